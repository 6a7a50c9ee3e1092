"""The fitted NVTabular Workflow as a plain feature-transform spec (export's first half).

``extract_transform(etl_dir)`` reads ``shoprank etl``'s output alone (the saved Workflow,
its statistics, and inputs.json: the logs config, the raw columns' types, the side tables'
snapshots; never the raw logs) and returns ``(spec, tensors)``: a JSON-able dict
{"inputs", "features", "tables"} (see engine/io/ARTIFACTS.md) and named arrays (every name
starts with "features/" or "tables/"). Nothing in them needs Python, pickle or NVTabular to
use.

The spec's NumPy reference is shoprank.reference.transform (the native engine is tested
against it; tests/export/test_transform.py proves it equal to ``Workflow.transform``).

Conventions
-----------
* A text tensor ``T`` is the pair ``T.bytes`` (U8, UTF-8 back to back) and ``T.offsets``
  (I64, n + 1), as ``tensors.encode_strings`` writes it.
* Raw values: int64, float64 (NaN = missing), string, string_list, timestamp_ms (int64
  milliseconds since the Unix epoch, UTC). Any value may be missing (None / NaN / NaT).
* Categorical outputs are int32 ids; 0 is padding (never produced), 1 null, 2 a value not in
  the table (unseen in training or rarer than freq_threshold); table ids start at 3.
  List features give one id array per row. Continuous outputs are float32.
* Continuous arithmetic is float32 throughout, exactly as NVTabular does it: the value is
  rounded to float32 first; ``log_plus_one`` is ``logf(x + 1.0f)`` (the sum rounded to float32,
  then the float32 natural log; not log1p); ``normalize`` is ``(x - (float)mean) / (float)std``
  in float32, or only ``x - (float)mean`` when std is not > 0 (null std = NaN).

Where Workflow.transform itself fails (the spec gives the documented meaning instead)
-------------------------------------------------------------------------------------
* a null list (e.g. the tags of an item missing from the side table): NVTabular's CPU
  Categorify raises TypeError; the reference gives an empty id list.
* a null in an integer-keyed categorical column (e.g. user_id None): pandas cannot cast NaN to
  the int64 keys and Categorify raises; the reference gives null_id.
* a null timestamp: TimeFeatures raises (NaN hour to int32); the reference gives null_id.
* a batch in which a categorical column is null in every row: Categorify raises IndexError.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from shoprank.export.tensors import encode_strings

PAD_ID, NULL_ID, UNSEEN_ID = 0, 1, 2
FIRST_ID = 3
TYPES = ("int64", "float64", "string", "string_list", "timestamp_ms")
MS_PER_HOUR, MS_PER_DAY = 3_600_000, 86_400_000
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0 (pandas .dt.weekday)


# Workflow nodes that only select, rename nothing, or add metadata
_PASS_OPS = {"ConcatColumns", "SelectionOp", "AddTags", "AddMetadata", "AddProperties"}
_CONTINUOUS_STEPS = {"FillMissing", "Clip", "LogOp", "Normalize"}


def extract_transform(etl_dir) -> tuple[dict, dict[str, np.ndarray]]:
    """(spec, tensors) for the Workflow that ``shoprank etl`` saved in etl_dir/workflow.

    Raises NotImplementedError naming the column for any operator or setting the spec cannot
    express (e.g. Categorify with num_buckets, TargetEncoding with kfold > 1)."""
    import shoprank.etl  # noqa: F401  (quiets TensorFlow and Merlin's CPU warnings)
    import nvtabular as nvt
    from merlin.schema import Tags

    from shoprank.etl.config import read_back
    from shoprank.etl.inputs import read_pseudonymised, read_raw_columns

    etl_dir = Path(etl_dir)
    config = read_back(etl_dir)
    workflow_dir = etl_dir / "workflow"
    workflow = nvt.Workflow.load(str(workflow_dir))
    raw = read_raw_columns(etl_dir, config)

    tensors: dict[str, np.ndarray] = {}
    features = []
    for column in workflow.output_schema:
        name = column.name
        if Tags.TARGET in column.tags or name.startswith("_"):
            continue
        sources, steps = _lineage(workflow.output_node, name)
        if not steps:  # a passthrough column
            continue
        for source in sources:
            if source not in raw:
                raise ValueError(f"feature {name!r} reads column {source!r}, which the raw "
                                 "data does not have")
        feature = _feature(name, sources, steps, raw, tensors, workflow_dir)
        cardinality = _schema_cardinality(column)
        if feature["kind"] == "categorical" and cardinality is not None \
                and feature["op"] != "hash_bucket":
            feature["cardinality"] = max(cardinality, feature["cardinality"])
        features.append(feature)

    used = list(dict.fromkeys(s for f in features for s in f["inputs"]))
    # the item id names the candidates even where no feature reads it
    item_key = config.item_id if config.item_id in raw else ""
    keys = [t.key for t in config.side_tables.values()] + ([item_key] if item_key else [])
    if config.realtime:  # the real-time state reads these from each request (and event)
        keys += [config.user_id, config.item_id, config.timestamp]
    inputs = [{"name": c, "type": raw[c]["type"], "table": raw[c]["table"]}
              for c in dict.fromkeys([*used, *keys])]
    tables = _side_tables(config, inputs, raw, tensors)
    spec = {"inputs": inputs, "features": features, "tables": tables, "item_key": item_key}
    if config.realtime:  # the engine keeps these columns' state and fills them in
        spec["realtime"] = {"user": config.user_id, "item": config.item_id,
                            "timestamp": config.timestamp, "label": config.label,
                            "recent_clicks": config.realtime.recent_clicks,
                            "window_ms": config.realtime.window_ms,
                            "match": list(config.realtime.match)}
    pseudonymised = read_pseudonymised(etl_dir)
    if pseudonymised:  # the engine hashes these columns of every request with the same key
        spec["pseudonymised"] = pseudonymised
    return spec, tensors


def _lineage(node, column: str) -> tuple[list[str], list[tuple]]:
    """(raw input columns, [(op, output column, op input columns)] from raw to output)."""
    op = node.op
    kind = type(op).__name__ if op is not None else "SelectionOp"
    if kind in _PASS_OPS:
        parent = _parent_with(node, column)
        return ([column], []) if parent is None else _lineage(parent, column)
    from merlin.dag import ColumnSelector

    selector = node.selector or ColumnSelector(node.input_schema.column_names)
    mapping = op.column_mapping(selector)
    if column not in mapping:
        raise NotImplementedError(f"feature {column!r}: cannot trace it through {kind}")
    sources = list(mapping[column])
    if kind == "TargetEncoding":
        sources = [s for s in sources if s not in op.target_columns]
    if len(sources) == 1:
        parent = _parent_with(node, sources[0])
        raw, steps = ([sources[0]], []) if parent is None else _lineage(parent, sources[0])
    else:
        raw, steps = [], []
        for source in sources:
            parent = _parent_with(node, source)
            inner_raw, inner_steps = ([source], []) if parent is None else \
                _lineage(parent, source)
            if inner_steps:
                raise NotImplementedError(f"feature {column!r}: {kind} of transformed "
                                          f"columns is not supported")
            raw += inner_raw
    return raw, steps + [(op, column, sources)]


def _parent_with(node, column: str):
    for parent in node.parents_with_dependencies:
        schema = parent.output_schema
        if schema is not None and column in schema.column_names:
            return parent
    return None


def _schema_cardinality(column) -> int | None:
    domain = column.int_domain
    return int(domain.max) + 1 if domain is not None and domain.max is not None else None


def _feature(name, sources, steps, raw, tensors, workflow_dir) -> dict:
    kinds = [type(op).__name__ for op, _, _ in steps]
    base = {"name": name, "inputs": list(sources)}
    if kinds == ["Categorify"]:
        (source,) = sources
        op = steps[0][0]
        multi = raw[source]["type"] == "string_list"
        feature = {**base, "kind": "categorical",
                   "op": "categorify_list" if multi else "categorify"}
        feature.update(_categorify_table(op, name, steps[0][2], workflow_dir, tensors))
        if multi:
            feature.update(null_element_id=UNSEEN_ID, null_list="empty")
        return _check_key_type(feature, raw[source]["type"])
    if kinds == ["Cross", "Categorify"]:
        categorify = steps[1][0]
        parts = []
        for source in sources:
            kind = raw[source]["type"]
            if kind not in ("int64", "string"):
                raise NotImplementedError(
                    f"feature {name!r}: crossing the {kind} column {source!r} is not "
                    "supported (only int64 and string parts have a plain text rule)")
            parts.append("int64_decimal" if kind == "int64" else "string")
        from shoprank.etl.ops.cross import SEPARATOR

        feature = {**base, "kind": "categorical", "op": "cross_categorify",
                   "separator": SEPARATOR, "part_text": parts}
        feature.update(_categorify_table(categorify, name, [name], workflow_dir, tensors))
        return _check_key_type(feature, "string")
    if kinds == ["TimeFeatures", "Categorify"]:
        (source,) = sources
        if raw[source]["type"] != "timestamp_ms":
            raise NotImplementedError(f"feature {name!r}: time features of a "
                                      f"{raw[source]['type']} column")
        part = name[len(source) + 1:]
        if part not in ("hour", "weekday"):
            raise NotImplementedError(f"feature {name!r}: unknown time feature {part!r}")
        feature = {**base, "kind": "categorical", "op": "time_categorify", "part": part}
        feature.update(_categorify_table(steps[1][0], name, [name], workflow_dir, tensors))
        return _check_key_type(feature, "int64")
    if kinds == ["HashBucket"]:
        raise NotImplementedError(f"feature {name!r}: NVTabular's HashBucket salts every hash "
                                  "with the row's position; use shoprank's StableHashBucket")
    if kinds == ["StableHashBucket"]:
        return {**base, "kind": "categorical", "op": "hash_bucket",
                **_hash_spec(steps[0][0], name, sources[0], raw[sources[0]])}
    if kinds and set(kinds[1:]) <= _CONTINUOUS_STEPS and \
            (kinds[0] in _CONTINUOUS_STEPS | {"ValueCounts", "TargetEncoding"}):
        return _continuous(name, sources, steps, raw, tensors)
    raise NotImplementedError(f"feature {name!r}: the operator chain {' >> '.join(kinds)} "
                              "has no spec")


def _check_key_type(feature: dict, raw_type: str) -> dict:
    expected = {"int64": ("int64", "float64"), "timestamp_ms": ("int64",),
                "string": ("string",), "string_list": ("string",),
                "float64": ("float64", "int64")}[raw_type]
    if feature["key_type"] not in expected:
        raise NotImplementedError(f"feature {feature['name']!r}: {feature['key_type']} keys "
                                  f"for a {raw_type} input")
    return feature


def _categorify_table(op, name, columns, workflow_dir, tensors) -> dict:
    """The key -> id table of one Categorify output column, as NVTabular 23.08 encodes it."""
    import pandas as pd

    if op.encode_type != "joint" or op.single_table:
        raise NotImplementedError(f"feature {name!r}: Categorify(encode_type="
                                  f"{op.encode_type!r}, single_table={op.single_table})")
    for setting in ("num_buckets", "max_size", "freq_threshold"):
        value = getattr(op, setting)
        if isinstance(value, dict):
            value = value.get(name)
        if setting == "num_buckets" and value:
            raise NotImplementedError(f"feature {name!r}: Categorify(num_buckets={value}) "
                                      "hashes out-of-vocabulary values; not supported")
    storage = op.storage_name.get(name, name)
    if storage != name or len(columns) != 1:
        raise NotImplementedError(f"feature {name!r}: jointly encoded column groups")
    path = Path(op.categories[storage])
    if not path.exists():  # a moved output folder: the statistics lie beside the workflow
        path = workflow_dir / "categories" / path.name
    table = pd.read_parquet(path)
    labels = np.asarray(table.index, dtype=np.int64)
    if len(labels) and labels[0] < FIRST_ID:  # what _encode does for cudf's lost RangeIndex
        labels = labels + FIRST_ID
    keys = table[storage]
    keep = keys.notna().to_numpy()  # nulls are always null_id, whatever the file holds
    keys, labels = keys[keep], labels[keep]
    freq = op.freq_threshold.get(name) if isinstance(op.freq_threshold, dict) \
        else op.freq_threshold
    entry = {"pad_id": PAD_ID, "null_id": NULL_ID, "unseen_id": UNSEEN_ID,
             "freq_threshold": int(freq or 0),
             "cardinality": int(max(labels.max() + 1 if len(labels) else 0, FIRST_ID))}
    entry.update(_key_tensors(keys, f"features/{name}/keys", tensors, name))
    tensors[f"features/{name}/ids"] = labels.astype(np.int32)
    entry["ids"] = f"features/{name}/ids"
    size = f"{storage}_size"  # each value's rows in the train window, where NVTabular kept it
    if size in table.columns:  # for pruning (export/pruning.py), never written out
        tensors[f"features/{name}/train_counts"] = table[size].to_numpy()[keep].astype(np.int64)
        entry["train_counts"] = f"features/{name}/train_counts"
    return entry


def _key_tensors(keys, tensor: str, tensors: dict, name: str) -> dict:
    """keys (a pandas Series without nulls) as an I64, F64 or text tensor."""
    values = keys.to_numpy()
    if keys.dtype.kind in "iu":
        tensors[tensor] = values.astype(np.int64)
        return {"key_type": "int64", "keys": tensor}
    if keys.dtype.kind == "f":
        tensors[tensor] = values.astype(np.float64)
        return {"key_type": "float64", "keys": tensor}
    if keys.dtype == object and all(isinstance(v, str) for v in values):
        data, offsets = encode_strings(values)
        tensors[f"{tensor}.bytes"], tensors[f"{tensor}.offsets"] = data, offsets
        return {"key_type": "string", "keys": tensor}
    raise NotImplementedError(f"feature {name!r}: keys of dtype {keys.dtype} "
                              f"(e.g. {values[:3].tolist()})")


def _hash_spec(op, name, source, raw) -> dict:
    buckets = op.num_buckets[source]
    if raw["type"] not in ("int64", "string"):
        raise NotImplementedError(f"feature {name!r}: HashBucket of a {raw['type']} column")
    return {"num_buckets": int(buckets), "cardinality": int(buckets),
            "part_text": "int64_decimal" if raw["type"] == "int64" else "string",
            "hash": "mix64(siphash24(key '0123456789123456', the value's UTF-8 text)) % "
                    "num_buckets; a null hashes to 2**64 - 1 (etl/ops/hash_bucket.py)"}


def _continuous(name, sources, steps, raw, tensors) -> dict:
    (source,) = sources
    first, rest = steps[0][0], steps[1:]
    kind = type(first).__name__
    feature = {"name": name, "kind": "continuous", "inputs": [source]}
    if kind == "ValueCounts":
        counts = first.counts[source]
        feature["op"] = "value_count"
        feature.update(_key_tensors(counts.index.to_series(), f"features/{name}/keys",
                                    tensors, name))
        tensors[f"features/{name}/counts"] = counts.to_numpy().astype(np.int64)
        feature.update(counts=f"features/{name}/counts", unseen_count=0, null_count=0)
    elif kind == "TargetEncoding":
        feature["op"] = "target_encoding"
        feature.update(_target_encoding(first, name, source, tensors))
    else:
        if raw[source]["type"] not in ("int64", "float64"):
            raise NotImplementedError(f"feature {name!r}: continuous {raw[source]['type']} "
                                      "column")
        feature["op"] = "continuous"
        rest = steps
        kinds = [type(op).__name__ for op, _, _ in steps]
        exact = raw[source]["dtype"] == "float32" or (
            "LogOp" in kinds and "Normalize" not in kinds[:kinds.index("LogOp")])
        if "Normalize" in kinds and not exact:
            raise NotImplementedError(f"feature {name!r}: Normalize of a {raw[source]['dtype']} "
                                      "column without LogOp computes in float64")
    feature["steps"] = [_step(op, column, name) for op, column, _ in rest]
    return feature


def _target_encoding(op, name, source, tensors) -> dict:
    """Per key: float32((sum of the target + p_smooth * target mean) / (count + p_smooth)),
    from the train window's statistics; unseen keys get float32(target mean)."""
    import pandas as pd

    if op.kfold > 1:
        raise NotImplementedError(f"feature {name!r}: TargetEncoding(kfold={op.kfold}) "
                                  "depends on the row's fold")
    targets = op.target_columns
    target = name.rsplit("_", 1)[-1] if len(targets) != 1 else targets[0]
    if target not in targets or name != f"TE_{source}_{target}":
        raise NotImplementedError(f"feature {name!r}: TargetEncoding output naming")
    mean = (op.target_mean or op.means)[target]
    stats = pd.read_parquet(op.stats[source])
    stats.columns = [source, "count", *[f"{t}_sum" for t in targets]]
    value = ((stats[f"{target}_sum"] + op.p_smooth * mean) / (stats["count"] + op.p_smooth))
    value = value.astype(op.out_dtype or np.float32).astype(np.float32)
    default = np.float32(np.float32(mean))
    null = stats[source].isna().to_numpy()
    null_value = float(value[null].iloc[0]) if null.any() else float(default)
    feature = {"target": target, "p_smooth": op.p_smooth, "target_mean": float(mean),
               "default": float(default), "null_value": null_value}
    feature.update(_key_tensors(stats[source][~null], f"features/{name}/keys", tensors, name))
    tensors[f"features/{name}/values"] = value[~null].to_numpy().astype(np.float32)
    feature["values"] = f"features/{name}/values"
    return feature


def _step(op, column: str, name: str) -> dict:
    kind = type(op).__name__
    if kind == "FillMissing":
        if op.add_binary_cols:
            raise NotImplementedError(f"feature {name!r}: FillMissing(add_binary_cols=True)")
        return {"op": "fill_missing", "value": float(op.fill_val)}
    if kind == "Clip":
        return {"op": "clip", "min": None if op.min_value is None else float(op.min_value),
                "max": None if op.max_value is None else float(op.max_value)}
    if kind == "LogOp":
        return {"op": "log_plus_one"}
    if kind == "Normalize":
        std = float(op.stds[column])
        return {"op": "normalize", "mean": float(op.means[column]),
                "std": None if math.isnan(std) else std}
    raise NotImplementedError(f"feature {name!r}: continuous step {kind}")


def _side_tables(config, inputs, raw, tensors) -> dict:
    import pandas as pd

    tables = {}
    for table_name, table in config.side_tables.items():
        columns = [i["name"] for i in inputs if i["table"] == table_name]
        frame = pd.read_parquet(table.path, columns=list(dict.fromkeys([table.key, *columns])))
        prefix = f"tables/{table_name}"
        keys = frame[table.key]
        if keys.isna().any():
            raise ValueError(f"side table {table_name}: null keys in {table.key!r}")
        if keys.dtype.kind == "f":
            raise NotImplementedError(f"side table {table_name}: float keys")
        entry = {"key": table.key, "rows": len(frame)}
        entry.update(_key_tensors(keys, f"{prefix}/keys", tensors, table_name))
        entry["columns"] = [_table_column(frame[c], c, raw[c]["type"], f"{prefix}/{c}", tensors)
                            for c in columns]
        tables[table_name] = entry
    return tables


def _table_column(series, name, kind, tensor, tensors) -> dict:
    import pandas as pd

    valid = series.notna().to_numpy()
    if kind == "string_list":
        valid = np.array([v is not None and not (isinstance(v, float) and math.isnan(v))
                          for v in series], dtype=bool)
    entry = {"name": name, "type": kind, "values": tensor, "valid": f"{tensor}.valid"}
    tensors[f"{tensor}.valid"] = valid.astype(np.uint8)
    if kind == "int64":
        tensors[tensor] = np.where(valid, series.fillna(0).to_numpy(), 0).astype(np.int64)
    elif kind == "float64":
        tensors[tensor] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    elif kind == "timestamp_ms":
        stamps = pd.to_datetime(series)
        ms = stamps.to_numpy("datetime64[ms]").astype(np.int64)
        tensors[tensor] = np.where(valid, ms, 0).astype(np.int64)
    elif kind == "string":
        data, offsets = encode_strings([v if ok else "" for v, ok in zip(series, valid)])
        tensors[f"{tensor}.bytes"], tensors[f"{tensor}.offsets"] = data, offsets
    elif kind == "string_list":
        elements, rows, element_valid = [], [0], []
        for value, ok in zip(series, valid):
            items = list(value) if ok else []
            for item in items:
                null = item is None or (isinstance(item, float) and math.isnan(item))
                elements.append("" if null else str(item))
                element_valid.append(not null)
            rows.append(len(elements))
        data, offsets = encode_strings(elements)
        tensors[f"{tensor}.bytes"], tensors[f"{tensor}.offsets"] = data, offsets
        tensors[f"{tensor}.rows"] = np.asarray(rows, dtype=np.int64)
        tensors[f"{tensor}.element_valid"] = np.asarray(element_valid, dtype=np.uint8)
        entry.update(rows=f"{tensor}.rows", element_valid=f"{tensor}.element_valid")
    else:
        raise NotImplementedError(f"side-table column {name!r} of type {kind}")
    return entry
