"""What serving needs to know about the ETL's inputs, kept in the ETL output, so that export
and the Merlin-path ranker read one stage back (this folder), never the raw logs again: the
logs may be moved or deleted once the ETL is done.

``OUT/inputs.json`` (plain JSON)::

    {"format": "shoprank-etl-inputs", "version": 1,
     "config":  {...},                 # the logs.json as given (roles: labels, ids, timestamp)
     "root":    "/abs/folder",         # where its paths pointed (provenance only)
     "columns": {"user_id": {"type": "int64", "table": null, "dtype": "int64"}, ...},
     "tables":  {"users": {"path": "tables/users.parquet", "key": "user_id",
                           "derived": false, "rows": 300}, ...}}

``columns``: every raw column as the transform and the engine read it: its type (int64,
float64, string, string_list, timestamp_ms), the side table it comes from (null: the logs
themselves) and the pandas dtype the Workflow saw (it matters for hashing).
``tables``: every table serving looks up by key, in ``OUT/tables/``: a snapshot of each side
table of the config (its key and the columns the ETL read from it) and the tables the ETL
derived from already-joined logs (derived_tables.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from shoprank.etl.config import (INPUTS_FILE, TABLES_FOLDER, LogsConfig, SideTable,
                                 config_file, inputs_gone)
from shoprank.etl.pseudonyms import key_check, pseudonymise_arrow
from shoprank.etl.realtime import LIST_COLUMN as REALTIME_LIST
from shoprank.etl.reading import LogsError, file_columns, find_files

FORMAT, VERSION = "shoprank-etl-inputs", 1


def write_inputs(config: LogsConfig, source, out: Path, files: list[Path]) -> None:
    """Snapshots the side tables into out/tables (beside the derived tables, already
    written there) and writes out/inputs.json. source: the logs.json (--config)."""
    import pyarrow.parquet as pq

    folder = out / TABLES_FOLDER
    served = {}
    for name, table in config.side_tables.items():
        read = {table.key, *config.required_columns()}  # what the ETL joined
        columns = [c for c in pq.read_schema(table.path).names if c in read]
        folder.mkdir(parents=True, exist_ok=True)
        # Arrow to Arrow: the snapshot keeps the file's types exactly (pandas would not)
        snapshot = pq.read_table(table.path, columns=columns)
        if config.personal and not table.pseudonymised:
            snapshot = pseudonymise_arrow(snapshot, config.personal, config.key_file)
        pq.write_table(snapshot, folder / f"{name}.parquet")
        served[name] = SideTable(folder / f"{name}.parquet", table.key)
    for name, (key, _) in config.derived_tables.items():
        served[name] = SideTable(folder / f"{name}.parquet", key, derived=True)
    inputs = {
        "format": FORMAT, "version": VERSION,
        "config": json.loads(config_file(source).read_text()),
        "root": str(config.root.resolve()),
        "columns": raw_columns(dataclasses.replace(config, side_tables=served), files),
        "tables": {name: {"path": f"{TABLES_FOLDER}/{name}.parquet", "key": table.key,
                          "derived": table.derived,
                          "rows": pq.ParquetFile(table.path).metadata.num_rows}
                   for name, table in served.items()},
    }
    if config.personal:  # which columns hold pseudonyms, and a check of the key (not the key)
        inputs["pseudonymised"] = {"columns": list(config.personal),
                                   "key_check": key_check(config.key_file)}
    (out / INPUTS_FILE).write_text(json.dumps(inputs, indent=1) + "\n")


def read_pseudonymised(etl_dir) -> dict | None:
    """{"columns", "key_check"} of an ETL output whose personal ids are pseudonyms, else None."""
    inputs = Path(etl_dir) / INPUTS_FILE
    return json.loads(inputs.read_text()).get("pseudonymised") if inputs.is_file() else None


def read_raw_columns(etl_dir, config: LogsConfig) -> dict[str, dict]:
    """{column: {"type", "table", "dtype"}} of an ETL output's raw inputs (inputs.json)."""
    inputs = Path(etl_dir) / INPUTS_FILE
    if inputs.is_file():
        return json.loads(inputs.read_text())["columns"]
    # An output written before inputs.json: the types come from the raw files, as they did
    # then (config: read_back's, whose side tables are the original files).
    try:
        return raw_columns(config, find_files(config))
    except (LogsError, FileNotFoundError) as error:
        raise FileNotFoundError(inputs_gone(etl_dir, str(error))) from None


def raw_columns(config: LogsConfig, files: list[Path]) -> dict[str, dict]:
    """{column: {"type", "table", "dtype"}} of the joined raw logs, as the ETL reads them
    (reading.py), from the first log file and each side table's schema."""
    import pyarrow.parquet as pq

    found: dict[str, dict] = {}
    if config.format == "parquet":
        for field in pq.read_schema(files[0]):
            found[field.name] = _arrow_type(field.type, None)
    else:  # csv and criteo are read as text; numbers and the timestamp are converted
        for name in file_columns(files[0], config.format):
            found[name] = {"type": "string", "table": None, "dtype": "object"}
        for name in (*config.continuous, *config.labels):
            if name in found:
                found[name] = {"type": "float64", "table": None, "dtype": "float64"}
    for table_name, table in config.side_tables.items():
        for field in pq.read_schema(table.path):
            if field.name not in found:
                found[field.name] = _arrow_type(field.type, table_name)
            elif table.derived and field.name != table.key:  # typed as the logs had it
                found[field.name]["table"] = table_name
    if config.realtime:  # made by the ETL (realtime.py), filled in by the engine when served
        found[REALTIME_LIST] = {"type": "string_list", "table": None, "dtype": "object"}
        for name in config.realtime.columns[1:]:
            found[name] = {"type": "float64", "table": None, "dtype": "float64"}
    if config.timestamp and config.timestamp in found:
        found[config.timestamp] = {"type": "timestamp_ms", "table": found[config.timestamp]
                                   ["table"], "dtype": "datetime64[ns]"}
    return found


def _arrow_type(arrow_type, table) -> dict:
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_integer(t):
        kind = "int64"
    elif pa.types.is_floating(t):
        kind = "float64"
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        kind = "string"
    elif pa.types.is_timestamp(t):
        kind = "timestamp_ms"
    elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and \
            (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        kind = "string_list"
    else:
        kind = f"unsupported:{t}"
    dtype = t.to_pandas_dtype() if kind in ("int64", "float64") else None
    return {"type": kind, "table": table,
            "dtype": np.dtype(dtype).name if dtype is not None else
            ("datetime64[ns]" if kind == "timestamp_ms" else "object")}
