"""The NVTabular feature pipeline: raw logs + a logs config in, processed splits, the fitted
Workflow and a summary out. Imports NVTabular (and with it TensorFlow) on first use."""

import os
import warnings

# NVTabular imports TensorFlow, whose start-up notices are noise on a command line
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Merlin warns on every CPU Dataset; the CPU (pandas) is a supported, chosen mode here
warnings.filterwarnings("ignore", message="Initializing an NVTabular Dataset in CPU mode")

from shoprank.etl.config import LogsConfig, load_config  # noqa: E402
from shoprank.etl.run import run_etl  # noqa: E402

__all__ = ["LogsConfig", "load_config", "run_etl"]
