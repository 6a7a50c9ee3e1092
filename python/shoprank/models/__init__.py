"""Click-through-rate models with Merlin Models (TensorFlow): DLRM and DCN-v2 on fused
embedding tables; training, evaluation and export. Imports TensorFlow on first use."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices are noise
