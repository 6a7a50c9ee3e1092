"""Interaction logs: the synthetic generator with a planted ground truth (NumPy, pandas and
pyarrow, imported on use)."""

from shoprank.data.generator import generate

__all__ = ["generate"]
