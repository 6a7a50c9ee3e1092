"""``generate``: realistic click logs with a known ground truth, written chunk by chunk.

Format "shoprank": impressions/part-NNNNN.parquet (time order), users.parquet,
items.parquet, logs.json (the config `shoprank etl` reads) and generator.json. Format
"criteo": train.tsv in the Criteo display-ads layout (label, I1..I13, C1..C26), the true
click probabilities in p_click.npy, and logs.json.

The same arguments give the same bytes; the data depend on --chunk-rows (each chunk has
its own random stream), not on anything else. Memory stays bounded by the chunk size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shoprank._output import output_folder
from shoprank.data import behaviour as bh
from shoprank.data.auc_histogram import AucHistogram

VERSION = 1
DAYS = 60
START = np.datetime64("2024-01-01T00:00:00", "ms")


def generate(out_dir, *, users: int = 20_000, items: int = 5_000, rows: int = 1_000_000,
             seed: int = 0, format: str = "shoprank", chunk_rows: int = 1_000_000,
             progress: bool = True, overwrite: bool = False) -> dict:
    for name, value in (("users", users), ("items", items), ("rows", rows),
                        ("chunk_rows", chunk_rows)):
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    if format not in ("shoprank", "criteo"):
        raise ValueError(f"--format: expected shoprank or criteo, got {format!r}")
    with output_folder(out_dir, overwrite=overwrite) as tmp:
        result = _generate(tmp, users, items, rows, seed, format, chunk_rows, progress)
    return {**result, "out": str(out_dir)}


def _generate(tmp: Path, users, items, rows, seed, fmt, chunk_rows, progress) -> dict:
    world_seed, *chunk_seeds = np.random.SeedSequence(seed).spawn(1 + -(-rows // chunk_rows))
    world = bh.make_world(users, items, np.random.default_rng(world_seed))
    writer = ParquetWriter(tmp, world) if fmt == "shoprank" else CriteoWriter(tmp, rows)
    auc, clicks = AucHistogram(), 0
    chunks = range(len(chunk_seeds))
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, desc="generate", unit="chunk")
    for index in chunks:
        first = index * chunk_rows
        frame = draw_chunk(world, first, min(chunk_rows, rows - first), rows,
                           np.random.default_rng(chunk_seeds[index]))
        writer.write(index, frame)
        auc.add(frame["click"], frame["_p_click"])
        clicks += int(frame["click"].sum())
    writer.close()
    summary = {"version": VERSION, "format": fmt, "users": users, "items": items, "rows": rows,
               "seed": seed, "chunk_rows": chunk_rows, "effects": bh.EFFECTS,
               "click_rate": clicks / rows, "oracle_auc": auc.value()}
    (tmp / "generator.json").write_text(json.dumps(summary, indent=1) + "\n")
    (tmp / "logs.json").write_text(json.dumps(writer.config(), indent=1) + "\n")
    return summary


def draw_chunk(world: bh.World, first: int, count: int, total: int, rng) -> dict:
    """Impressions first .. first + count of `total`: whole requests of SHOWN_PER_REQUEST
    items, one timestamp per request, in time order."""
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
    user, device, context = per_row(user), per_row(device), per_row(context)
    # most shown items come from the browsed category, the rest from anywhere
    from_context = rng.random(count) < 0.6
    shown_category = np.where(from_context, context, rng.integers(0, bh.CATEGORIES, count))
    item = bh.draw_items(world, shown_category, rng)
    logit = bh.click_logit(world, user, item, position, device, context, per_row(share))
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
    }


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

    def write(self, index: int, frame: dict) -> None:
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
            "crosses": [["user_id", "category"], ["age_band", "category"]],
            "time_features": ["timestamp"],
            "statistics": {"count": ["user_id", "item_id"], "ctr": ["item_id", "brand", "category"]},
            "passthrough": ["_p_click"], "split": {"valid": 0.1, "test": 0.1}, "freq_threshold": 2,
        }


class CriteoWriter:
    """label, 13 integer and 26 hashed categorical columns, tab-separated, no header."""

    def __init__(self, folder: Path, rows: int):
        self.tsv = open(folder / "train.tsv", "w")
        self.p_click = np.lib.format.open_memmap(folder / "p_click.npy", mode="w+",
                                                 dtype=np.float32, shape=(rows,))
        self.written = 0

    def write(self, index: int, frame: dict) -> None:
        import pandas as pd

        count = len(frame["click"])
        rng = np.random.default_rng(index)  # only for the missing-value masks
        stamps = frame["timestamp"].astype("datetime64[s]").astype(np.int64)
        ints = [frame["position"], frame["user_id"] % 97, (stamps // 3600) % 24,
                (stamps // 86400) % 7, frame["item_id"] % 89, frame["session_id"] % 50]
        ints += [(frame["item_id"] * (j + 3)) % (20 + j) for j in range(7)]
        cats = [frame["user_id"], frame["item_id"], frame["device"], frame["context_category"],
                frame["session_id"]]
        cats += [frame["item_id"] // (j + 2) for j in range(21)]
        table = {"label": frame["click"]}
        for j, values in enumerate(ints, 1):
            column = pd.Series(values).astype("Int64")
            table[f"I{j}"] = column.mask(rng.random(count) < 0.05)
        for j, values in enumerate(cats, 1):
            table[f"C{j}"] = _hashed(values, j).mask(rng.random(count) < 0.03)
        pd.DataFrame(table).to_csv(self.tsv, sep="\t", header=False, index=False)
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


def _hashed(values, salt: int):
    """Criteo's 8-hex-digit hashed categoricals: a stable 32-bit mix of the value's text."""
    import pandas as pd

    series = pd.Series(values)
    missing = series.isna()
    uniques, inverse = np.unique(series.fillna("").astype(str).to_numpy(), return_inverse=True)
    digests = pd.util.hash_array(uniques.astype(object), hash_key=f"criteo{salt:010d}")
    text = np.array([f"{int(d) & 0xFFFFFFFF:08x}" for d in digests], dtype=object)[inverse]
    return pd.Series(text).mask(missing)
