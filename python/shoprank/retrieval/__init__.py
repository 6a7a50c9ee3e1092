"""Retrieval: the candidates of a user from the whole catalogue (issue 19). So far how a
retrieval stage is judged (evaluate.py) and its simplest peer, popularity."""
