"""The planted shopping behaviour: who sees what, and the true probability of a click.

A world of users and items is drawn once from the seed; impressions are then drawn request
by request. The click probability is a sigmoid of effects a ranking model can learn from
the logged features: latent user x item taste, category affinity, brand loyalty, price
sensitivity by age band, position bias, device, the match with the browsed category, item
quality, and a slow drift of category popularity over the logged period. With short-term
behaviour on (``generate --realtime``), two more that only recent events reveal: each user's
interest of the week (a category; their recent clicks show it) and items that trend for two
days (their clicks in the last hours show it).
"""

from __future__ import annotations

import dataclasses

import numpy as np

CATEGORIES, BRANDS, TAGS, REGIONS, FACTORS = 40, 300, 200, 20, 8
AGE_BANDS = np.array(["18-24", "25-34", "35-44", "45-54", "55+"], dtype=object)
GENDERS = np.array(["f", "m", "x"], dtype=object)
DEVICES = np.array(["mobile", "desktop", "tablet", "app"], dtype=object)
DEVICE_EFFECT = np.array([0.0, -0.15, -0.1, 0.25])
PRICE_SENSITIVITY = np.array([0.9, 0.6, 0.35, 0.25, 0.5])  # by age band
SHOWN_PER_REQUEST = 12
EFFECTS = {"base": -2.4, "taste": 1.0, "affinity": 0.9, "loyalty": 0.8, "context": 0.5,
           "position": 0.55, "quality": 0.5, "drift": 0.3, "price": 1.0,
           "interest": 1.2, "trending": 1.2}
SHORT_TERM = ("interest", "trending")  # effects of generate --realtime only
DAYS, WEEKS, TREND_DAYS = 60, 9, 2   # the logged period; an interest lasts a week


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclasses.dataclass
class World:
    """Users and items, their hidden traits, and the tables the generator writes."""
    user_factors: np.ndarray
    user_categories: np.ndarray   # (U, 3) preferred categories
    user_brands: np.ndarray       # (U, 3) favourite brands, -1 where none
    user_age: np.ndarray          # age band index
    user_device: np.ndarray       # usual device index
    user_activity: np.ndarray     # probability of each user making a request
    item_factors: np.ndarray
    item_category: np.ndarray
    item_brand: np.ndarray
    item_price: np.ndarray
    item_quality: np.ndarray
    item_by_category: np.ndarray  # item ids sorted by category
    category_cumulative: np.ndarray  # per sorted item: category + cumulative popularity share
    category_trend: np.ndarray
    median_price: np.ndarray      # per category
    users: dict
    items: dict
    user_interest: np.ndarray | None = None  # (U, WEEKS) the week's category, or None
    item_trend_day: np.ndarray | None = None  # first day of each item's trend, -1: never


def make_world(users: int, items: int, rng: np.random.Generator,
               short_term: bool = False) -> World:
    start = np.datetime64("2024-01-01T00:00:00", "ms")
    age = rng.choice(len(AGE_BANDS), users, p=[0.18, 0.3, 0.24, 0.16, 0.12])
    category_share = 1.0 / np.arange(1, CATEGORIES + 1) ** 0.7
    category = rng.choice(CATEGORIES, items, p=category_share / category_share.sum())
    brand_share = 1.0 / np.arange(1, BRANDS + 1) ** 1.1
    # brands lean to a few categories: brand = category-specific offset plus a Zipf draw
    brand = (rng.choice(BRANDS, items, p=brand_share / brand_share.sum()) + 7 * category) % BRANDS
    category_scale = rng.uniform(2.0, 5.5, CATEGORIES)
    price = np.exp(rng.normal(category_scale[category], 0.5)).astype(np.float32)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    rng.shuffle(popularity)
    # items sorted by category; each category's popularity as a CDF inside [c, c + 1), so
    # one searchsorted draws items by popularity within any mix of categories
    order = np.argsort(category, kind="stable")
    sorted_category, cumulative_weight = category[order], np.cumsum(popularity[order])
    codes = np.arange(CATEGORIES)
    starts = np.searchsorted(sorted_category, codes)
    ends = np.searchsorted(sorted_category, codes, side="right")
    before = np.where(starts > 0, cumulative_weight[np.maximum(starts - 1, 0)], 0.0)
    total = np.where(ends > starts, cumulative_weight[np.maximum(ends - 1, 0)] - before, 1.0)
    cumulative = sorted_category + (cumulative_weight - before[sorted_category]) / \
        total[sorted_category]
    median_price = np.array([np.median(price[category == c]) if np.any(category == c) else 1.0
                             for c in range(CATEGORIES)])
    tag_share = 1.0 / np.arange(1, TAGS + 1) ** 0.8
    tags = [[f"t{t:03d}" for t in rng.choice(TAGS, n, replace=False, p=tag_share / tag_share.sum())]
            for n in rng.integers(0, 6, items)]
    price_out = price.copy()
    price_out[rng.random(items) < 0.01] = np.nan  # a few items without a listed price
    activity = rng.lognormal(0, 1.0, users)
    region = rng.integers(0, REGIONS, users)
    # tastes follow segments in the main, as they must for a model to learn them from a
    # few dozen impressions a user: an age band's favourite categories, a region's brands,
    # and a latent taste that is the sum of the age band's and the region's (all learnable
    # from the logged age band and region); a small part of each is personal
    segment = rng.random((users, 3))
    band_favourites = rng.choice(CATEGORIES, (len(AGE_BANDS), 3), replace=False)
    personal = rng.choice(CATEGORIES, (users, 3), p=category_share / category_share.sum())
    preferred = np.where(segment < 0.8, band_favourites[age], personal)
    region_brands = rng.choice(BRANDS, (REGIONS, 3), p=brand_share / brand_share.sum())
    own_brands = np.where(rng.random((users, 3)) < [0.9, 0.5, 0.3],
                          rng.choice(BRANDS, (users, 3), p=brand_share / brand_share.sum()), -1)
    brands = np.where(rng.random((users, 3)) < 0.7, region_brands[region], own_brands)
    # an item's latent traits are mostly its category's and its brand's
    item_factors = (rng.normal(0, 0.3, (CATEGORIES, FACTORS))[category]
                    + rng.normal(0, 0.2, (BRANDS, FACTORS))[brand]
                    + rng.normal(0, 0.1, (items, FACTORS)))
    taste = (rng.normal(0, 0.3, (len(AGE_BANDS), FACTORS))[age]
             + rng.normal(0, 0.2, (REGIONS, FACTORS))[region]
             + rng.normal(0, 0.1, (users, FACTORS)))
    world = World(
        user_factors=taste,
        user_categories=preferred, user_brands=brands,
        user_age=age, user_device=rng.choice(len(DEVICES), users, p=[0.5, 0.25, 0.1, 0.15]),
        user_activity=activity / activity.sum(),
        item_factors=item_factors,
        item_category=category, item_brand=brand, item_price=price,
        item_quality=rng.normal(0, 1, items), item_by_category=order,
        category_cumulative=cumulative, category_trend=rng.normal(0, 1, CATEGORIES),
        median_price=median_price,
        users={
            "user_id": np.arange(users, dtype=np.int64),
            "age_band": np.where(rng.random(users) < 0.03, None, AGE_BANDS[age]),
            "gender": np.where(rng.random(users) < 0.05, None,
                               GENDERS[rng.choice(3, users, p=[0.48, 0.47, 0.05])]),
            "region": np.array([f"r{r:02d}" for r in region], dtype=object),
            "signup_date": start - rng.integers(0, 3 * 365, users).astype("timedelta64[D]"),
        },
        items={
            "item_id": np.arange(items, dtype=np.int64),
            "category": np.array([f"c{c:03d}" for c in category], dtype=object),
            "brand": np.array([f"b{b:03d}" for b in brand], dtype=object),
            "price": price_out, "tags": tags,
            "launch_date": start - rng.integers(0, 2 * 365, items).astype("timedelta64[D]"),
        },
    )
    if short_term:  # drawn last: the rest of the world is the same with it off
        weekly = rng.choice(CATEGORIES, (users, WEEKS), p=category_share / category_share.sum())
        world.user_interest = np.where(rng.random((users, WEEKS)) < 0.5,
                                       preferred[np.arange(users)[:, None],
                                                 rng.integers(0, 3, (users, WEEKS))], weekly)
        world.item_trend_day = np.where(rng.random(items) < 0.3,
                                        rng.integers(0, DAYS - TREND_DAYS + 1, items), -1)
    return world


def draw_items(world: World, categories: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One item per entry, by popularity within the given category."""
    position = np.searchsorted(world.category_cumulative, categories + rng.random(categories.size))
    return world.item_by_category[np.minimum(position, len(world.item_by_category) - 1)]


def click_logit(world: World, user, item, position, device, context, time_share,
                drift: float = EFFECTS["drift"]):
    """The true log-odds of a click for each impression."""
    e = EFFECTS
    category = world.item_category[item]
    taste = np.einsum("ij,ij->i", world.user_factors[user], world.item_factors[item])
    affinity = (world.user_categories[user] == category[:, None]).any(axis=1)
    loyalty = (world.user_brands[user] == world.item_brand[item][:, None]).any(axis=1)
    relative_price = np.log(world.item_price[item] / world.median_price[category])
    sensitivity = PRICE_SENSITIVITY[world.user_age[user]]
    return (e["base"] + e["taste"] * taste + e["affinity"] * affinity + e["loyalty"] * loyalty
            + e["context"] * (category == context) - e["position"] * np.log1p(position)
            + e["quality"] * world.item_quality[item] + DEVICE_EFFECT[device]
            + drift * world.category_trend[category] * (time_share - 0.5)
            - e["price"] * sensitivity * relative_price
            + short_term_logit(world, user, item, time_share))


def short_term_logit(world: World, user, item, time_share):
    """The week's interest and the items trending today (0 without short-term behaviour)."""
    if world.user_interest is None:
        return 0.0
    day = np.minimum((np.asarray(time_share) * DAYS).astype(np.int64), DAYS - 1)
    interest = world.user_interest[user, day // 7] == world.item_category[item]
    start = world.item_trend_day[item]
    trending = (start >= 0) & (day >= start) & (day < start + TREND_DAYS)
    return EFFECTS["interest"] * interest + EFFECTS["trending"] * trending


def purchase_probability(world: World, user, item) -> np.ndarray:
    category = world.item_category[item]
    relative_price = np.log(world.item_price[item] / world.median_price[category])
    return sigmoid(-1.2 - 1.5 * PRICE_SENSITIVITY[world.user_age[user]] * relative_price)
