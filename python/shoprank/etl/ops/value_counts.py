"""ValueCounts: how often each value of a column occurred in the fitted (train) data.

NVTabular's JoinGroupby does the same but fails on the CPU for values it never saw (its
integer cast meets NaN); here an unseen value counts 0. The fitted counts are plain
{value: count} tables, easy to export for the native engine.
"""

from __future__ import annotations

import numpy as np
from merlin.core.dispatch import DataFrameType
from merlin.dag.ops.stat_operator import StatOperator
from merlin.schema import Tags
from nvtabular.ops.operator import ColumnSelector, Operator


class ValueCounts(StatOperator):
    def __init__(self):
        super().__init__()
        self.counts = {}

    def fit(self, col_selector: ColumnSelector, ddf):
        return {name: ddf[name].value_counts(dropna=True) for name in col_selector.names}

    def fit_finalize(self, dask_stats):
        for name, counts in dask_stats.items():
            counts = counts.to_pandas() if hasattr(counts, "to_pandas") else counts
            self.counts[name] = counts.sort_index()

    def transform(self, col_selector: ColumnSelector, df: DataFrameType) -> DataFrameType:
        output = {}
        for name in col_selector.names:
            counts = self.counts[name]
            output[f"{name}_count"] = df[name].map(counts).fillna(0).astype(np.float32)
        return type(df)(output)

    transform.__doc__ = Operator.transform.__doc__

    def clear(self):
        self.counts = {}

    def column_mapping(self, col_selector):
        return {f"{name}_count": [name] for name in col_selector.names}

    @property
    def output_tags(self):
        return [Tags.CONTINUOUS]

    @property
    def output_dtype(self):
        return np.float32
