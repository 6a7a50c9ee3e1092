"""Cross: one column whose value is the combination of several, e.g. user_id x category.

The combination is the columns' text joined by '|' (null if any part is null); Categorify
then gives each combination seen in training its own id. (NVTabular's combo Categorify
would do both at once, but it hands its raw input columns on to the Workflow's output,
overwriting the same columns' Categorify ids.) The rule is plain text, so the native
engine builds the same key.
"""

from __future__ import annotations

import numpy as np
from merlin.core.dispatch import DataFrameType
from merlin.schema import Tags
from nvtabular.ops.operator import ColumnSelector, Operator

SEPARATOR = "|"


class Cross(Operator):
    def transform(self, col_selector: ColumnSelector, df: DataFrameType) -> DataFrameType:
        names = col_selector.names
        parts = [df[name].astype(str) for name in names]
        crossed = parts[0].str.cat(parts[1:], sep=SEPARATOR)
        missing = df[names].isnull().any(axis=1)
        crossed = crossed.where(~missing, None)
        return type(df)({self.output_name(names): crossed})

    transform.__doc__ = Operator.transform.__doc__

    @staticmethod
    def output_name(names) -> str:
        return "_".join(names)

    def column_mapping(self, col_selector):
        return {self.output_name(col_selector.names): list(col_selector.names)}

    @property
    def output_tags(self):
        return [Tags.CATEGORICAL]

    @property
    def output_dtype(self):
        return np.dtype("O")
