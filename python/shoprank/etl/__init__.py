"""The NVTabular feature pipeline: raw logs + a logs config in, processed splits, the fitted
Workflow and a summary out. Imports NVTabular (and with it TensorFlow) on first use."""

from shoprank.etl.config import LogsConfig, load_config
from shoprank.etl.run import run_etl

__all__ = ["LogsConfig", "load_config", "run_etl"]
