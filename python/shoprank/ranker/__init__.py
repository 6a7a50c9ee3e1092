"""The native ranking engine's Python side: artifact export, the Ranker, the Python-path
reference, and the specs (with NumPy references) the engine is tested against."""
