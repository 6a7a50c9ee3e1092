"""What an ETL run did, read back from its output: rows per split, cardinalities, the share
of unseen and null values per categorical column, and (on generated logs) the oracle AUC."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shoprank.etl.workflow import NULL_ID, UNSEEN_ID


def output_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(folder.glob("*.parquet")))


def read_column(folder: Path, column: str) -> np.ndarray:
    import pyarrow.parquet as pq

    parts = [pq.read_table(f, columns=[column]).column(0) for f in sorted(folder.glob("*.parquet"))]
    if not parts:
        return np.array([])
    import pyarrow as pa

    chunked = pa.chunked_array([c for p in parts for c in p.chunks], type=parts[0].type)
    if pa.types.is_list(chunked.type) or pa.types.is_large_list(chunked.type):
        chunked = pa.chunked_array([c.flatten() for c in chunked.chunks])
    return chunked.to_numpy()


def categorical_columns(schema) -> dict[str, int]:
    """Output categorical columns (lists included) and their cardinality (ids 0..max)."""
    from merlin.schema import Tags

    found = {}
    for column in schema.select_by_tag(Tags.CATEGORICAL):
        domain = column.int_domain
        found[column.name] = int(domain.max) + 1 if domain is not None else None
    return found


def split_summary(folder: Path, schema, *, label: str, p_click: str | None,
                  hashed: set[str]) -> dict:
    """hashed: hash-bucket columns, which have no unseen or null ids."""
    from shoprank.metrics import auc

    summary = {"rows": output_rows(folder), "unseen_share": {}, "null_share": {}}
    for column in categorical_columns(schema):
        ids = read_column(folder, column)
        if ids.size and column not in hashed:
            summary["unseen_share"][column] = round(float(np.mean(ids == UNSEEN_ID)), 6)
            summary["null_share"][column] = round(float(np.mean(ids == NULL_ID)), 6)
    labels = read_column(folder, label)
    summary["positive_rate"] = round(float(labels.mean()), 6) if labels.size else None
    if p_click and labels.size and 0 < labels.mean() < 1:
        summary["oracle_auc"] = round(auc(labels, read_column(folder, p_click)), 6)
    return summary

