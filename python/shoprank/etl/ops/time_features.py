"""TimeFeatures: the hour of day and the day of week of a timestamp column, as small ints.

They feed Categorify like any categorical column; both are stateless, so the native engine
computes the same values from the raw timestamp (UTC).
"""

from __future__ import annotations

import numpy as np
from merlin.core.dispatch import DataFrameType
from merlin.schema import Tags
from nvtabular.ops.operator import ColumnSelector, Operator

PARTS = {"hour": 24, "weekday": 7}


class TimeFeatures(Operator):
    def transform(self, col_selector: ColumnSelector, df: DataFrameType) -> DataFrameType:
        output = {}
        for column in col_selector.names:
            stamps = df[column]
            output[f"{column}_hour"] = stamps.dt.hour.astype(np.int32)
            output[f"{column}_weekday"] = stamps.dt.weekday.astype(np.int32)
        return type(df)(output)

    transform.__doc__ = Operator.transform.__doc__

    def column_mapping(self, col_selector):
        return {f"{column}_{part}": [column] for column in col_selector.names for part in PARTS}

    @property
    def output_tags(self):
        return [Tags.CATEGORICAL]

    @property
    def output_dtype(self):
        return np.int32
