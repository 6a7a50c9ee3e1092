"""HashBucket: each value's text hashed into a fixed number of buckets, the same bucket for
the same value in every batch.

NVTabular 23.08's HashBucket hashes on the CPU with pandas' hash_pandas_object, whose index
argument defaults to True: every hash is combined with the row's position in its partition,
so one value lands in a different bucket on every row and the feature carries no signal (and
no serving engine could reproduce it). This op hashes the value alone: its text (an integer
in decimal) through pandas' hash_array (SipHash-2-4 with pandas' key, then its 64-bit
mixer), modulo the bucket count; a null hashes to 2**64 - 1 as pandas hashes it. On cuDF the
column is hashed on the host, so GPU and CPU runs agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from merlin.core.dispatch import DataFrameType
from nvtabular.ops import HashBucket
from nvtabular.ops.operator import ColumnSelector, Operator


def bucket_of_text(values: pd.Series, buckets: int) -> np.ndarray:
    """int32 buckets of a pandas Series (numbers as their decimal text, None/NaN null)."""
    if values.dtype.kind in "iu":
        text = values.astype(str).to_numpy(dtype=object)
    elif values.dtype.kind == "f":  # an integer column with nulls: pandas holds it as float
        text = np.array([None if np.isnan(v) else str(int(v)) for v in values], dtype=object)
    else:
        text = np.array([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                         else str(v) for v in values], dtype=object)
    hashes = pd.util.hash_array(text, categorize=True)
    return (hashes % np.uint64(buckets)).astype(np.int32)


class StableHashBucket(HashBucket):
    """NVTabular's HashBucket (same schema: domain and embedding sizes) with a per-value
    hash; num_buckets is {column: buckets}."""

    def transform(self, col_selector: ColumnSelector, df: DataFrameType) -> DataFrameType:
        for name, buckets in self.num_buckets.items():
            column = df[name]
            if hasattr(column, "to_pandas"):  # cuDF: hash on the host, the same as the CPU
                values = bucket_of_text(column.to_pandas(), buckets)
                df[name] = type(column)(values, index=column.index)
            else:
                df[name] = pd.Series(bucket_of_text(column, buckets), index=column.index)
        return df

    transform.__doc__ = Operator.transform.__doc__
