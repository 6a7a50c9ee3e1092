"""Silencing what the pipeline's libraries print that is not the user's business on a
command line: TensorFlow's start-up notices and deprecation hints, Merlin's warning that
PyTorch is not installed (it is not needed), absl's notes on untraced functions when a
SavedModel is written. ``--debug`` keeps them all."""

from __future__ import annotations

import logging
import os
import warnings

NOISE = [
    "PyTorch dtype mappings did not load",           # merlin.dtypes, on every import
    "Initializing an NVTabular Dataset in CPU mode",  # the CPU is a chosen mode here
]


def quiet_libraries() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for message in NOISE:
        warnings.filterwarnings("ignore", message=message)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # "Please fix your imports"
    try:  # "Found untraced functions": absl sets its own level when TensorFlow starts it
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # the light install has no absl, and nothing that uses it
        pass
