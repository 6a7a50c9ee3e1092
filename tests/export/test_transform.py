"""The exported feature-transform spec and its NumPy reference against NVTabular's
Workflow.transform: on the raw rows of the test split and on fresh random rows with unseen
ids and categories, nulls, NaN prices, odd tag lists and timestamps on hour and day
boundaries. Ids must be equal; continuous values equal to rtol 1e-6 with atol 1e-6 (an
absolute floor for normalized values near 0, where a last-bit difference in the float32 log
is relatively large; on one machine the reference is in fact bit-identical)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("nvtabular")
from shoprank.data import generate  # noqa: E402
from shoprank.etl import load_config, run_etl  # noqa: E402
from shoprank.etl.config import CRITEO_COLUMNS  # noqa: E402
from shoprank.export import transform as ts  # noqa: E402
from shoprank.reference import hashing  # noqa: E402
from shoprank.reference import transform as rt  # noqa: E402
from shoprank.export.tensors import CODES, read_tensors, write_tensors  # noqa: E402
from tests.etl.logs_factory import CONFIG as FACTORY_CONFIG, write_logs  # noqa: E402

QUIET = dict(progress=False, say=lambda *_: None)
RTOL = ATOL = 1e-6
HOUR_MS, DAY_MS = 3_600_000, 86_400_000


class Setup:
    def __init__(self, etl_dir: Path):
        import nvtabular as nvt

        self.etl_dir = etl_dir
        self.summary = json.loads((etl_dir / "summary.json").read_text())
        self.config = load_config(self.summary["config"])
        self.workflow = nvt.Workflow.load(str(etl_dir / "workflow"))
        self.spec, self.tensors = ts.extract_transform(etl_dir)

    def joined(self) -> pd.DataFrame:
        """Every raw log row with the side tables joined, as etl/reading.py does it."""
        config = self.config
        if config.format == "criteo":
            frame = pd.read_csv(config.root / config.impressions, sep="\t", header=None,
                                names=CRITEO_COLUMNS, dtype="object")
            for column in (*config.continuous, *config.labels):
                frame[column] = pd.to_numeric(frame[column]).astype("float64")
            frame["_p_click"] = np.load(config.root / config.p_click).astype(np.float32)
            return frame
        files = sorted((config.root / "impressions").glob("*.parquet"))
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        for table in config.side_tables.values():
            frame = frame.merge(pd.read_parquet(table.path), how="left", on=table.key)
        return frame

    def test_rows(self) -> pd.DataFrame:
        frame = self.joined()
        start = self.summary["splits"]["test"]["window"][0]
        if self.config.timestamp is None:
            rows = frame.iloc[int(start):]
        else:
            rows = frame[frame[self.config.timestamp] >= pd.Timestamp(start)]
        assert len(rows) == self.summary["splits"]["test"]["rows_in"]
        return rows.reset_index(drop=True)

    def nvtabular(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.reset_index(drop=True).copy()
        for column in (*self.config.labels, *self.config.passthrough_columns):
            if column not in frame:
                frame[column] = np.zeros(len(frame), np.float32)
        return self.workflow.transform(frame)

    def reference(self, frame: pd.DataFrame) -> dict:
        return rt.reference_transform(self.spec, self.tensors, raw_columns(self.spec, frame))


def raw_columns(spec, frame: pd.DataFrame) -> dict:
    out = {}
    for column in spec["inputs"]:
        if column["name"] not in frame:
            continue
        values = frame[column["name"]]
        out[column["name"]] = values.tolist() if column["type"] in ("string", "string_list") \
            else values.to_numpy()
    return out


def assert_same(spec, reference: dict, expected: pd.DataFrame) -> dict:
    """Checks every feature; returns {feature: max abs difference} for continuous ones."""
    differences = {}
    assert [f["name"] for f in spec["features"]] == [
        c for c in expected.columns if c in reference]
    for feature in spec["features"]:
        name, got, want = feature["name"], reference[feature["name"]], expected[feature["name"]]
        if feature["op"] == "categorify_list":
            assert len(got) == len(want)
            for row, (a, b) in enumerate(zip(got, want)):
                assert a.dtype == np.int32
                np.testing.assert_array_equal(a, np.asarray(b, np.int64), err_msg=f"{name}[{row}]")
        elif feature["kind"] == "categorical":
            assert got.dtype == np.int32, name
            np.testing.assert_array_equal(got, want.to_numpy(np.int64), err_msg=name)
        else:
            assert got.dtype == np.float32, name
            np.testing.assert_allclose(got, want.to_numpy(np.float64), rtol=RTOL, atol=ATOL,
                                       err_msg=name)
            differences[name] = float(np.max(np.abs(got - want.to_numpy()), initial=0))
    return differences


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Setup:
    root = tmp_path_factory.mktemp("spec")
    generate(root / "logs", users=300, items=200, rows=20_000, progress=False)
    run_etl(root / "logs" / "logs.json", root / "features", **QUIET)
    return Setup(root / "features")


@pytest.fixture(scope="module")
def factory(tmp_path_factory) -> Setup:
    """Hand-made logs: a hashed column, statistics of a column with nulls (the TargetEncoding
    null-key quirk), a cross with an integer part."""
    root = tmp_path_factory.mktemp("factory")
    config = dict(FACTORY_CONFIG, statistics={"count": ["item_id", "device"],
                                              "ctr": ["item_id", "device"]},
                  crosses=[["user_id", "category"], ["device", "position"]])
    run_etl(write_logs(root / "logs", config=config), root / "features", **QUIET)
    return Setup(root / "features")


@pytest.fixture(scope="module")
def criteo(tmp_path_factory) -> Setup:
    root = tmp_path_factory.mktemp("criteo")
    generate(root / "logs", users=300, items=200, rows=3000, format="criteo", progress=False)
    run_etl(root / "logs" / "logs.json", root / "features", **QUIET)
    return Setup(root / "features")


def random_rows(setup: Setup, rng, n: int = 400) -> pd.DataFrame:
    """Fresh rows for the generated logs: unseen users, items and categories, nulls, NaN and
    negative prices, None / NaN / unseen tags and empty tag lists, boundary timestamps."""
    config = setup.config
    frame = pd.DataFrame({"user_id": rng.integers(0, 360, n), "item_id": rng.integers(0, 240, n)})
    for table in config.side_tables.values():
        frame = frame.merge(pd.read_parquet(table.path), how="left", on=table.key)

    def sprinkle(column, values, share):
        hit = np.flatnonzero(rng.random(n) < share)
        frame.loc[hit, column] = pd.Series(rng.choice(np.array(values, dtype=object), len(hit)),
                                           index=hit, dtype=object)

    frame["device"] = rng.choice(np.array(["mobile", "desktop", "tablet", "app", "smart-tv",
                                           None], dtype=object), n)
    frame["context_category"] = rng.choice(np.array([f"c{c:03d}" for c in range(45)]
                                                    + [None, "zzz"], dtype=object), n)
    for column, values in (("age_band", [None, "ancient"]), ("gender", [None, "q"]),
                           ("region", [None, "r99"]), ("category", [None, "c999"]),
                           ("brand", [None, "b999"])):
        sprinkle(column, values, 0.1)
    price = frame["price"].to_numpy(np.float64)
    special = rng.choice([np.nan, -5.0, 0.0, 1e-8, 1e6, 3.25], n)
    frame["price"] = np.where(rng.random(n) < 0.2, special, price).astype(np.float32)
    frame["position"] = rng.integers(-3, 25, n).astype(np.int32)
    tags = []
    for _ in range(n):
        draw = [f"t{t:03d}" for t in rng.integers(0, 210, rng.integers(0, 6))]
        if rng.random() < 0.15:
            draw.insert(int(rng.integers(0, len(draw) + 1)),
                        [None, np.nan, "zzz"][int(rng.integers(0, 3))])
        tags.append(np.array(draw, dtype=object))
    frame["tags"] = tags
    start = np.datetime64("2024-01-01T00:00:00", "ms").astype(np.int64)
    stamps = start + rng.integers(0, 100 * DAY_MS, n)
    edge = np.flatnonzero(rng.random(n) < 0.3)
    base = start + rng.integers(0, 100, len(edge)) * DAY_MS \
        + rng.integers(0, 24, len(edge)) * HOUR_MS
    stamps[edge] = base + rng.choice([0, -1, 1, HOUR_MS - 1], len(edge))
    stamps[:4] = [start, start - 1, 0, -1]  # a Monday's midnight, 1970's, before 1970
    frame["timestamp"] = stamps.astype("datetime64[ms]").astype("datetime64[ns]")
    frame["session_id"] = rng.integers(0, 10**9, n)
    return frame


# ---------------------------------------------------------------------------------------------

def test_spec_shape_and_tensors(generated, tmp_path):
    spec, tensors = generated.spec, generated.tensors
    assert set(spec) == {"inputs", "features", "tables", "item_key"}
    assert spec["item_key"] == "item_id"
    json.dumps(spec, allow_nan=False)  # plain JSON
    schema = generated.workflow.output_schema
    assert [f["name"] for f in spec["features"]] == [
        c for c in schema.column_names if c not in ("click", "purchase") and c[0] != "_"]
    assert {i["name"]: i["table"] for i in spec["inputs"]} == {
        "user_id": None, "item_id": None, "device": None, "context_category": None,
        "timestamp": None, "position": None, "age_band": "users", "gender": "users",
        "region": "users", "category": "items", "brand": "items", "tags": "items",
        "price": "items"}
    assert {i["name"]: i["type"] for i in spec["inputs"]}["tags"] == "string_list"
    assert all(i["type"] in ts.TYPES for i in spec["inputs"])
    assert all(n.startswith(("features/", "tables/")) for n in tensors)
    assert all(t.dtype in CODES for t in tensors.values())
    ops = {f["name"]: f["op"] for f in spec["features"]}
    assert ops["tags"] == "categorify_list" and ops["region_brand"] == "cross_categorify"
    assert ops["timestamp_hour"] == "time_categorify" and ops["item_id_count"] == "value_count"
    assert ops["TE_item_id_click"] == "target_encoding" and ops["price"] == "continuous"
    for feature in spec["features"]:  # every tensor a feature names exists
        for key in ("keys", "ids", "counts", "values"):
            if key in feature:
                name = feature[key]
                assert name in tensors or f"{name}.bytes" in tensors, name
    # the file round trip gives the same transform
    write_tensors(tmp_path / "t.bin", tensors)
    again = read_tensors(tmp_path / "t.bin")
    rows = generated.test_rows().iloc[:200]
    first = generated.reference(rows)
    second = rt.reference_transform(spec, again, raw_columns(spec, rows))
    for name in first:
        if isinstance(first[name], list):
            assert all(np.array_equal(a, b) for a, b in zip(first[name], second[name]))
        else:
            np.testing.assert_array_equal(first[name], second[name])


def test_categorify_tables_follow_nvtabular(generated):
    """Rare values (fewer than freq_threshold=2 in train) have no id: they are unseen."""
    spec, tensors = generated.spec, generated.tensors
    feature = next(f for f in spec["features"] if f["name"] == "user_id")
    keys, ids = tensors[feature["keys"]], tensors[feature["ids"]]
    assert feature["freq_threshold"] == 2 and ids.min() == 3
    assert sorted(ids.tolist()) == list(range(3, 3 + len(ids)))
    stats = pd.read_parquet(generated.etl_dir / "workflow" / "categories" /
                            "unique.user_id.parquet")
    assert (stats["user_id_size"] >= 2).all()
    assert dict(zip(keys.tolist(), ids.tolist())) == dict(zip(stats["user_id"], stats.index))
    train = generated.joined()
    train = train[train["timestamp"] < pd.Timestamp(generated.summary["splits"]["valid"]
                                                    ["window"][0])]
    counts = train["user_id"].value_counts()
    rare = counts[counts < 2].index.to_numpy()
    if len(rare):
        out = rt.reference_transform(spec, tensors, {"user_id": rare})["user_id"]
        assert (out == ts.UNSEEN_ID).all()


def test_test_split_equals_workflow(generated):
    rows = generated.test_rows()
    differences = assert_same(generated.spec, generated.reference(rows),
                              generated.nvtabular(rows))
    print("max abs difference per continuous feature:", differences)


def test_random_rows_equal_workflow(generated, rng):
    rows = random_rows(generated, rng)
    assert_same(generated.spec, generated.reference(rows), generated.nvtabular(rows))


def test_keys_only_rows_equal_full_rows(generated, rng):
    spec, tensors = generated.spec, generated.tensors
    side = {c["name"] for t in spec["tables"].values() for c in t["columns"]}
    rows = random_rows(generated, rng)  # unknown users (>= 300) and items (>= 200) included
    joined = rows.drop(columns=[c for c in side if c in rows])
    for table in generated.config.side_tables.values():
        joined = joined.merge(pd.read_parquet(table.path), how="left", on=table.key)
    full = raw_columns(spec, joined)
    keys_only = {k: v for k, v in full.items() if k not in side}
    looked_up = rt.lookup_side_tables(spec, tensors, keys_only)
    assert set(looked_up) == set(full)
    want = rt.reference_transform(spec, tensors, full)
    got = rt.reference_transform(spec, tensors, looked_up)
    for name in want:
        if isinstance(want[name], list):
            assert all(np.array_equal(a, b) for a, b in zip(got[name], want[name])), name
        else:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    unknown = np.flatnonzero(rows["item_id"].to_numpy() >= 200)
    assert len(unknown) and all(looked_up["tags"][i] is None for i in unknown)
    assert all(len(got["tags"][i]) == 0 for i in unknown)  # a null list: no ids
    # a null or unknown key gives nulls, a given column is kept
    some = rt.lookup_side_tables(spec, tensors, {"user_id": [None, 10**9, 1],
                                                 "item_id": [0, 0, 0], "brand": ["x", "y", "z"]})
    assert some["age_band"][:2] == [None, None] and some["brand"] == ["x", "y", "z"]


def test_what_workflow_rejects_has_the_documented_meaning(generated):
    """Null lists, null integer ids and null timestamps make NVTabular raise; the spec gives
    them meanings: no ids, null_id, null_id."""
    spec, tensors = generated.spec, generated.tensors
    rows = generated.test_rows().iloc[:3].copy()
    raw = raw_columns(spec, rows)
    raw["tags"] = [None, [], ["t000", None]]
    raw["user_id"] = [None, 0, 1]
    raw["timestamp"] = np.array(["NaT", "2024-01-01T00:00", "NaT"], dtype="datetime64[ms]")
    raw["device"] = [None, None, None]
    raw["brand"] = [None, "b001", "b002"]
    out = rt.reference_transform(spec, tensors, raw)
    assert [len(t) for t in out["tags"]] == [0, 0, 2] and out["tags"][2][1] == ts.UNSEEN_ID
    assert out["user_id"][0] == ts.NULL_ID and out["region_brand"][0] == ts.NULL_ID
    assert out["timestamp_hour"][0] == out["timestamp_weekday"][2] == ts.NULL_ID
    assert (out["device"] == ts.NULL_ID).all()
    count = next(f for f in spec["features"] if f["name"] == "user_id_count")
    null_count = rt._apply_steps(np.zeros(1, np.float32), count["steps"])[0]
    assert out["user_id_count"][0] == null_count  # a null id counts 0, like an unseen one


def test_factory_logs_equal_workflow(factory, rng):
    """StableHashBucket, statistics of a column with nulls, an int x string cross."""
    spec = factory.spec
    features = {f["name"]: f for f in spec["features"]}
    assert features["session_id"]["op"] == "hash_bucket"
    assert features["device_position"]["part_text"] == ["string", "int64_decimal"]
    te = features["TE_device_click"]
    # NVTabular counts non-null keys, so the null group's count is 0: (sum + 20 mean) / 20
    stats = pd.read_parquet(factory.etl_dir / "workflow" / "categories" /
                            "cat_stats.device.parquet")
    null_sum = stats.loc[stats["device"].isna(), "device_click_sum"].iloc[0]
    assert stats.loc[stats["device"].isna(), "device_count"].iloc[0] == 0
    assert te["null_value"] == pytest.approx((null_sum + 20 * te["target_mean"]) / 20, rel=1e-6)
    assert te["null_value"] > 1  # not a rate at all
    rows = factory.test_rows()
    assert_same(spec, factory.reference(rows), factory.nvtabular(rows))
    fresh = rows.sample(len(rows), random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
    fresh["device"] = rng.choice(np.array(["mobile", "desktop", None, "tv"], dtype=object),
                                 len(fresh))
    fresh["session_id"] = rng.integers(-5, 10**12, len(fresh))
    fresh["position"] = rng.integers(-2, 12, len(fresh)).astype(np.int32)
    assert_same(spec, factory.reference(fresh), factory.nvtabular(fresh))


def test_criteo_equals_workflow(criteo, rng):
    spec = criteo.spec
    assert {f["op"] for f in spec["features"]} == {"hash_bucket", "continuous"}
    assert spec["tables"] == {}
    rows = criteo.test_rows()
    assert_same(spec, criteo.reference(rows), criteo.nvtabular(rows))
    shuffled = rows.sample(len(rows), random_state=int(rng.integers(1 << 31)))
    shuffled = shuffled.reset_index(drop=True)
    shuffled.loc[rng.random(len(rows)) < 0.1, "C3"] = "never-seen"
    shuffled.loc[rng.random(len(rows)) < 0.1, "I2"] = -7.5
    assert_same(spec, criteo.reference(shuffled), criteo.nvtabular(shuffled))


# Test vectors for the native StableHashBucket: pandas 1.5's hash_array of the text
SIPHASH = {b"": 0x77AF285EECA5A420, b"a": 0xE396E9550F678AF1,
           b"68fd1e64": 0x5B49A73F7B8C14B8, b"abcdefghi": 0xBDE7B05250E13984,
           "é".encode(): 0x6BB811F854AAB1E9}
STRING_HASH = {"": 0x186DA64456263A46, "68fd1e64": 0x7904E2567B4702C0}  # mix64(siphash)


def test_hash_vectors():
    for data, expected in SIPHASH.items():
        assert hashing.siphash24(data) == expected, data
    for text, expected in STRING_HASH.items():
        assert int(hashing.hash_text([text])[0]) == expected
    assert int(hashing.hash_text([None])[0]) == 2**64 - 1


def test_hash_matches_the_etl_op(rng):
    """The reference's buckets are StableHashBucket's, for text and for integers (with nulls),
    and a value's bucket does not depend on its row."""
    from shoprank.etl.ops.hash_bucket import bucket_of_text

    words = [None, "", "a", "é", "68fd1e64"] + [f"w{i}" * int(rng.integers(1, 6))
                                                 for i in range(40)]
    values = [words[i] for i in rng.integers(0, len(words), 300)]
    column = rt._parse(values, "string", "x", len(values))
    feature = {"num_buckets": 997, "part_text": "string"}
    got = rt._OPS["hash_bucket"](feature, {}, [column], 300)
    np.testing.assert_array_equal(got, bucket_of_text(pd.Series(values, dtype=object), 997))
    same = [got[i] for i, v in enumerate(values) if v == values[0]]
    assert len(set(same)) == 1
    ints = rng.integers(-10**12, 10**12, 300)
    feature = {"num_buckets": 1000, "part_text": "int64_decimal"}
    got = rt._OPS["hash_bucket"](feature, {}, [rt._parse(ints, "int64", "x", 300)], 300)
    np.testing.assert_array_equal(got, bucket_of_text(pd.Series(ints), 1000))
    with_null = pd.Series([5, None, -3], dtype="float64")
    got = rt._OPS["hash_bucket"](feature, {}, [rt._parse([5, None, -3], "int64", "x", 3)], 3)
    np.testing.assert_array_equal(got, bucket_of_text(with_null, 1000))
