"""The processed features `shoprank etl` wrote, checked before any training starts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

PASSTHROUGH_PREFIX = "_"  # columns like _p_click are carried, never trained on
SOFT_LABELS_FILE = "distillation.json"  # marks a folder whose train labels are soft (distill.py)


@dataclasses.dataclass(frozen=True)
class Processed:
    folder: Path
    schema: object          # merlin.schema.Schema: the model's features and its label
    label: str
    splits: dict            # split name -> folder of Parquet files

    def files(self, split: str) -> list[str]:
        return sorted(str(p) for p in self.splits[split].glob("*.parquet"))

    def dataset(self, split: str):
        from merlin.io import Dataset

        dataset = Dataset(self.files(split), engine="parquet")
        dataset.schema = self.schema
        return dataset

    def frame(self, split: str, columns: list[str] | None = None):
        """A split as one pandas DataFrame (all columns, or the named ones)."""
        import pandas as pd

        return pd.concat([pd.read_parquet(f, columns=columns) for f in self.files(split)],
                         ignore_index=True)

    def column(self, split: str, name: str) -> np.ndarray:
        from shoprank.etl.summary import read_column

        return read_column(self.splits[split], name)


def load_processed(folder, label: str | None = None) -> Processed:
    """Reads the schema of an ETL output folder; every problem is a ValueError that says
    which folder or column is wrong."""
    from merlin.schema import Tags
    from merlin.schema.io.tensorflow_metadata import TensorflowMetadata

    folder = Path(folder)
    splits = {name: folder / name for name in ("train", "valid", "test")
              if (folder / name).is_dir()}
    if "train" not in splits:
        raise ValueError(f"{folder}: no train/ split (expected the output of shoprank etl)")
    schema_file = splits["train"] / "schema.pbtxt"
    if not schema_file.is_file():
        raise ValueError(f"{folder}: train/ has no schema.pbtxt (the Merlin schema that "
                         "shoprank etl writes); cannot tell features from labels")
    schema = TensorflowMetadata.from_proto_text_file(str(splits["train"])).to_merlin_schema()
    targets = schema.select_by_tag(Tags.TARGET).column_names
    if not targets:
        raise ValueError(f"{schema_file}: no column is tagged as the label (TARGET)")
    label = label or targets[0]
    if label not in targets:
        raise ValueError(f"label {label!r} is not a label column of {schema_file}; "
                         f"labels: {targets}")
    features = [c for c in schema.column_names
                if c not in targets and not c.startswith(PASSTHROUGH_PREFIX)]
    processed = Processed(folder, schema.select_by_name([*features, label]), label, splits)
    if not processed.files("train"):
        raise ValueError(f"{splits['train']}: the training split has no Parquet files")
    values = processed.column("train", label)
    if values.size == 0:
        raise ValueError(f"{splits['train']}: the training split is empty")
    distinct = np.unique(values[~np.isnan(values.astype(float))])
    if (folder / SOFT_LABELS_FILE).is_file():  # a distillation folder: the teacher's
        if distinct.min() < 0 or distinct.max() > 1:  # probabilities blended with the clicks
            raise ValueError(f"{splits['train']}: soft labels must lie in [0, 1]")
    elif not set(distinct.tolist()) <= {0, 1}:
        raise ValueError(f"label {label!r} must be binary (0/1); found values "
                         f"{distinct[:10].tolist()}")
    elif len(distinct) == 1:
        raise ValueError(f"label {label!r} is {int(distinct[0])} in every row of the training "
                         f"split ({splits['train']}): a click model needs both clicks (1) and "
                         "non-clicks (0)")
    return processed
