"""The runtime: ``shoprank.Ranker`` over an exported artifact folder (ranker.py) and the
normalising of raw request columns for the engine (raw.py). Export is shoprank.export, the
NumPy references shoprank.reference, the Merlin path shoprank.models.merlin_ranker."""
