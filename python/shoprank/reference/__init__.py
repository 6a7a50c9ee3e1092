"""NumPy references, each the obviously-correct form of one layer that the fast one is
tested against: the transform spec (transform), the forward spec (forward), pandas' text
hashing (hashing). The top-k's is shoprank.selection.reference."""
