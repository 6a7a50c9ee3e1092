"""``generate``: realistic click logs with a known ground truth, written chunk by chunk.

Format "shoprank": impressions/part-NNNNN.parquet (time order), users.parquet,
items.parquet, logs.json (the config `shoprank etl` reads) and generator.json. Format
"criteo": train.tsv in the Criteo display-ads layout (label, I1..I13, C1..C26), the true
click probabilities in p_click.npy, and logs.json.

The same arguments give the same bytes; the data depend on --chunk-rows (each chunk has
its own random stream), not on anything else. Memory stays bounded by the chunk size.
Users and items come from the seed alone, so they are the same for any --chunk-rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shoprank._output import output_folder
from shoprank.data import behaviour as bh
from shoprank.data.auc_histogram import AucHistogram

VERSION = 1
# the user's recent clicks show the week's interest (how many share the candidate's
# category); an item's counters over the last day, its trend
REALTIME_FEATURES = {"recent_clicks": 5, "window_minutes": 1440, "match": ["category"]}
DAYS = bh.DAYS
START = np.datetime64("2024-01-01T00:00:00", "ms")
# The default data set. 5M impressions, not fewer: at 1M (about 4 requests a user, 160
# train impressions an item) too little is seen to learn the planted effects: the DLRM
# reached test AUC 0.736 and a tuned logistic regression 0.742 against an oracle of 0.766;
# at 5M the DLRM reaches 0.750 against 0.764 (benchmarks/README.md, bench_train).
DEFAULT_USERS, DEFAULT_ITEMS, DEFAULT_ROWS = 20_000, 5_000, 5_000_000
DEFAULT_CHUNK_ROWS = 1_000_000


def generate(out_dir, *, users: int = DEFAULT_USERS, items: int = DEFAULT_ITEMS,
             rows: int = DEFAULT_ROWS, seed: int = 0, format: str = "shoprank",
             chunk_rows: int = DEFAULT_CHUNK_ROWS, progress: bool = True,
             overwrite: bool = False, drift: float = bh.EFFECTS["drift"],
             realtime: bool = False) -> dict:
    """drift: how far each category's popularity moves over the 60 days (log-odds per unit
    of its trend, end against start); benchmarks/bench_drift.py raises it. realtime: plant
    short-term behaviour (behaviour.py: a weekly interest, trending items) and ask the ETL
    for the real-time features that reveal it (logs.json's "realtime")."""
    for name, value in (("users", users), ("items", items), ("rows", rows),
                        ("chunk_rows", chunk_rows)):
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    if format not in ("shoprank", "criteo"):
        raise ValueError(f"--format: expected shoprank or criteo, got {format!r}")
    if realtime and format != "shoprank":
        raise ValueError("--realtime needs --format shoprank (the Criteo layout has no user "
                         "ids or times to follow)")
    with output_folder(out_dir, overwrite=overwrite) as tmp:
        result = _generate(tmp, users, items, rows, seed, format, chunk_rows, progress, drift,
                           realtime)
    return {**result, "out": str(out_dir), "config": str(Path(out_dir) / "logs.json")}


def _generate(tmp: Path, users, items, rows, seed, fmt, chunk_rows, progress, drift,
              realtime) -> dict:
    world_seed, *chunk_seeds = np.random.SeedSequence(seed).spawn(1 + -(-rows // chunk_rows))
    world = bh.make_world(users, items, np.random.default_rng(world_seed), short_term=realtime)
    writer = ParquetWriter(tmp, world) if fmt == "shoprank" else CriteoWriter(tmp, rows, world)
    auc, clicks, carry = AucHistogram(), 0, None
    chunks = range(len(chunk_seeds))
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, desc="generate", unit="chunk")
    for index in chunks:
        first = index * chunk_rows
        rng = np.random.default_rng(chunk_seeds[index])
        frame, carry = draw_chunk(world, first, min(chunk_rows, rows - first), rows, rng, carry,
                                  drift)
        writer.write(index, frame, rng)  # rng: the rest of the chunk's stream (Criteo's gaps)
        auc.add(frame["click"], frame["_p_click"])
        clicks += int(frame["click"].sum())
    writer.close()
    summary = {"version": VERSION, "format": fmt, "users": users, "items": items, "rows": rows,
               "seed": seed, "chunk_rows": chunk_rows, "effects": {**{k: v for k, v in bh.EFFECTS.items()
                                                    if realtime or k not in bh.SHORT_TERM},
                                                 "drift": drift},
               "click_rate": clicks / rows, "oracle_auc": auc.value(), "realtime": realtime}
    config = writer.config()
    if realtime:
        config["realtime"] = REALTIME_FEATURES
    (tmp / "generator.json").write_text(json.dumps(summary, indent=1) + "\n")
    (tmp / "logs.json").write_text(json.dumps(config, indent=1) + "\n")
    return summary


def draw_chunk(world: bh.World, first: int, count: int, total: int, rng, carry=None,
               drift: float = bh.EFFECTS["drift"]):
    """Impressions first .. first + count of `total`: requests of SHOWN_PER_REQUEST items,
    one timestamp per request, in time order. A request cut by the chunk's start keeps the
    previous chunk's user, device and context (`carry`, as returned for the last request).
    Returns (columns, carry)."""
    n = bh.SHOWN_PER_REQUEST
    row = np.arange(first, first + count)
    request = row // n
    position = (row % n).astype(np.int32)
    starts = np.flatnonzero(np.r_[True, request[1:] != request[:-1]])
    per_request = np.diff(np.r_[starts, count])

    def per_row(values):
        return np.repeat(values, per_request)

    requests = len(starts)
    share = request[starts] / max(-(-total // n), 1)  # the request's place in the period
    seconds = (share * DAYS * 86400).astype(np.int64)
    user = rng.choice(len(world.user_activity), requests, p=world.user_activity)
    device = np.where(rng.random(requests) < 0.85, world.user_device[user],
                      rng.integers(0, len(bh.DEVICES), requests))
    context = np.where(rng.random(requests) < 0.7,
                       world.user_categories[user, rng.integers(0, 3, requests)],
                       rng.integers(0, bh.CATEGORIES, requests))
    if carry is not None and first % n:  # the first request began in the previous chunk
        user[0], device[0], context[0] = carry
    carry = (user[-1], device[-1], context[-1])
    user, device, context = per_row(user), per_row(device), per_row(context)
    # most shown items come from the browsed category, the rest from anywhere
    from_context = rng.random(count) < 0.6
    shown_category = np.where(from_context, context, rng.integers(0, bh.CATEGORIES, count))
    item = bh.draw_items(world, shown_category, rng)
    logit = bh.click_logit(world, user, item, position, device, context, per_row(share), drift)
    p_click = bh.sigmoid(logit).astype(np.float32)
    click = (rng.random(count) < p_click).astype(np.int8)
    purchase = (click & (rng.random(count) < bh.purchase_probability(world, user, item))).astype(np.int8)
    context_name = np.array([f"c{c:03d}" for c in range(bh.CATEGORIES)], dtype=object)[context]
    context_name[rng.random(count) < 0.02] = None
    return {
        "timestamp": START + per_row(seconds).astype("timedelta64[s]").astype("timedelta64[ms]"),
        "user_id": user.astype(np.int64),
        # a session: one user's requests within the same half hour
        "session_id": user.astype(np.int64) * 10_000 + per_row(seconds) // 1800,
        "item_id": item.astype(np.int64), "position": position,
        "device": bh.DEVICES[device], "context_category": context_name,
        "click": click, "purchase": purchase, "_p_click": p_click,
    }, carry


class ParquetWriter:
    def __init__(self, folder: Path, world: bh.World):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.folder = folder / "impressions"
        self.folder.mkdir()
        pq.write_table(pa.table(world.users), folder / "users.parquet")
        pq.write_table(pa.table(world.items, schema=pa.schema([
            ("item_id", pa.int64()), ("category", pa.string()), ("brand", pa.string()),
            ("price", pa.float32()), ("tags", pa.list_(pa.string())),
            ("launch_date", pa.timestamp("ms"))])), folder / "items.parquet")

    def write(self, index: int, frame: dict, rng) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(frame), self.folder / f"part-{index:05d}.parquet")

    def close(self) -> None:
        pass

    @staticmethod
    def config() -> dict:
        return {
            "format": "parquet", "impressions": "impressions/*.parquet", "timestamp": "timestamp",
            "label": "click", "other_labels": ["purchase"], "user_id": "user_id",
            "item_id": "item_id",
            "side_tables": {"users": {"path": "users.parquet", "key": "user_id"},
                            "items": {"path": "items.parquet", "key": "item_id"}},
            "categorical": ["user_id", "item_id", "device", "context_category", "age_band",
                            "gender", "region", "category", "brand"],
            # session_id is logged but not a feature: a request's own session would let a
            # model memorise its clicks; HashBucket serves the Criteo layout's columns
            "hashed": {}, "multi_valued": ["tags"],
            "continuous": ["price", "position"],
            # segment x item-attribute crosses, and the browsed category x the item's
            # (DLRM test AUC 0.7307 -> 0.7359 on 1M generated rows with the last three); a
            # user_id x category cross (about 5 impressions a pair in 1M rows) let the model
            # memorise clicks: 0.01-0.02 test AUC
            "crosses": [["age_band", "category"], ["region", "brand"], ["age_band", "brand"],
                        ["region", "category"], ["context_category", "category"]],
            "time_features": ["timestamp"],
            "statistics": {"count": ["user_id", "item_id"], "ctr": ["item_id", "brand", "category"]},
            "passthrough": ["_p_click"], "split": {"valid": 0.1, "test": 0.1}, "freq_threshold": 2,
        }


class CriteoWriter:
    """label, 13 integer and 26 hashed categorical columns, tab-separated, no header.

    The columns carry what the Parquet layout does (user, item, device, browsed category,
    the item's category, brand, price and tags, the user's age band, gender and region,
    time, position), so the clicks stay as predictable; the rest are weak, as in Criteo.
    """

    def __init__(self, folder: Path, rows: int, world: bh.World):
        import pyarrow.csv as csv

        self.world = world
        tags = world.items["tags"]
        self.first_tag = np.array([t[0] if t else None for t in tags], dtype=object)
        self.tag_count = np.array([len(t) for t in tags], dtype=np.int64)
        self.tsv = csv.CSVWriter(str(folder / "train.tsv"), self._schema(),
                                 write_options=csv.WriteOptions(include_header=False,
                                                                delimiter="\t",
                                                                quoting_style="none"))
        self.p_click = np.lib.format.open_memmap(folder / "p_click.npy", mode="w+",
                                                 dtype=np.float32, shape=(rows,))
        self.written = 0

    @staticmethod
    def _schema():
        import pyarrow as pa

        return pa.schema([("label", pa.int8())] + [(f"I{j}", pa.int64()) for j in range(1, 14)]
                         + [(f"C{j}", pa.string()) for j in range(1, 27)])

    def write(self, index: int, frame: dict, rng) -> None:
        import pyarrow as pa

        w, count = self.world, len(frame["click"])
        user, item = frame["user_id"], frame["item_id"]
        category, brand, age = w.item_category[item], w.item_brand[item], w.user_age[user]
        price = w.items["price"][item]
        seconds = (frame["timestamp"] - START).astype("timedelta64[s]").astype(np.int64)
        days = seconds // 86400
        launch = (w.items["launch_date"][item] - START).astype("timedelta64[D]").astype(np.int64)
        signup = (w.users["signup_date"][user] - START).astype("timedelta64[D]").astype(np.int64)
        no_price = np.isnan(price)
        price = np.where(no_price, 0, price)
        ints = [  # (values, missing)
            (frame["position"], None), (np.round(price), no_price), ((seconds // 3600) % 24, None),
            (days % 7, None), (days - launch, None), (days - signup, None),
            (self.tag_count[item], None),
            (np.round(10 * np.log1p(price)), no_price), (days, None),
        ] + [(rng.poisson(lam, count), None) for lam in (1, 3, 10, 40)]  # weak, like Criteo's
        cats = [user, item, frame["device"], frame["context_category"], category, brand,
                w.users["age_band"][user], w.users["gender"][user], w.users["region"][user],
                user * 64 + category, age * 64 + category, self.first_tag[item]]
        cats += [brand * 64 + category, (seconds // 3600) % 24, frame["position"]]
        # coarse id buckets: weak, redundant columns, as many of Criteo's are
        cats += [item // k for k in (2, 3, 5, 8, 13, 21)] + [user // k for k in (2, 3, 5, 8, 13)]
        columns = [pa.array(frame["click"])]
        # a few values missing at random, as in Criteo
        for values, missing in ints:
            gone = rng.random(count) < 0.05
            columns.append(pa.array(np.asarray(values, np.int64),
                                    mask=gone if missing is None else gone | missing))
        for salt, values in enumerate(cats, 1):
            columns.append(_hashed(values, salt, rng.random(count) < 0.03))
        self.tsv.write_table(pa.Table.from_arrays(columns, schema=self._schema()))
        self.p_click[self.written:self.written + count] = frame["_p_click"]
        self.written += count

    def close(self) -> None:
        self.tsv.close()
        self.p_click.flush()

    @staticmethod
    def config() -> dict:
        return {"format": "criteo", "impressions": "train.tsv", "timestamp": None,
                "label": "label", "categorical": [],
                "hashed": {f"C{i}": 100_000 for i in range(1, 27)},
                "continuous": [f"I{i}" for i in range(1, 14)],
                "split": {"valid": 0.1, "test": 0.1}, "freq_threshold": 2,
                "p_click": "p_click.npy"}


FNV_OFFSET, FNV_PRIME = 0x811C9DC5, 0x01000193


def _hashed(values, salt: int, missing):
    """Criteo's 8-hex-digit hashed categoricals: 32-bit FNV-1a of "C<salt>:" + the value's
    text (stable across runs and chunks); null where the value is null or `missing`.
    Each distinct value is hashed once, all of them at a time."""
    import pandas as pd
    import pyarrow as pa

    codes, uniques = pd.factorize(np.asarray(values))  # code -1 for None / NaN
    text = np.asarray(uniques).astype("S")  # ASCII, zero-padded to the longest
    hashes = np.full(len(text), FNV_OFFSET, np.uint64)
    for byte in f"C{salt}:".encode():
        hashes = ((hashes ^ np.uint64(byte)) * np.uint64(FNV_PRIME)) & np.uint64(0xFFFFFFFF)
    for byte in text.view(np.uint8).reshape(len(text), text.itemsize).T.astype(np.uint64):
        step = ((hashes ^ byte) * np.uint64(FNV_PRIME)) & np.uint64(0xFFFFFFFF)
        hashes = np.where(byte != 0, step, hashes)  # padding is not part of the text
    nibbles = (hashes[:, None] >> np.arange(28, -1, -4, dtype=np.uint64)) & np.uint64(0xF)
    hex_text = np.frombuffer(b"0123456789abcdef", np.uint8)[nibbles].view("S8").ravel()
    rows = pa.array(codes, mask=(codes < 0) | missing)
    return pa.array(hex_text, pa.binary(8)).cast(pa.string()).take(rows)
