"""The users and items tables of logs that arrive already joined.

A config's ``user_columns`` / ``item_columns`` say which columns of the logs describe the
user (keyed by ``user_id``) and the item (keyed by ``item_id``). The ETL writes one row per
key with each column's latest non-null value (in time order over every split) to
``tables/users.parquet`` / ``tables/items.parquet`` in its output; export serves them as
side tables, so a request names a user and its candidates by id alone.
"""

from __future__ import annotations

from pathlib import Path

from shoprank.etl.config import LogsConfig


def write_derived_tables(config: LogsConfig, staged: list[Path], out: Path,
                         list_types: dict) -> dict[str, int]:
    """Writes the tables from the staged (joined, checked) splits, oldest first; returns
    {table: rows}."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    written = {}
    for name, (key, columns) in config.derived_tables.items():
        time = [config.timestamp] if config.timestamp else []
        wanted = list(dict.fromkeys([key, *columns, *time]))
        frame = pd.concat([pd.read_parquet(folder, columns=wanted) for folder in staged],
                          ignore_index=True)
        if time:  # stable: rows sharing a timestamp keep their file order
            frame = frame.sort_values(config.timestamp, kind="stable")
        table = frame.groupby(key, sort=True)[list(columns)].last().reset_index()
        out.mkdir(parents=True, exist_ok=True)
        schema = pa.Schema.from_pandas(table, preserve_index=False)
        for column, arrow_type in list_types.items():
            if column in table.columns:
                schema = schema.set(schema.get_field_index(column), pa.field(column, arrow_type))
        pq.write_table(pa.Table.from_pandas(table, schema=schema, preserve_index=False),
                       out / f"{name}.parquet")
        written[name] = len(table)
    return written
