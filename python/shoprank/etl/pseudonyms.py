"""Pseudonymised ids (issue 21): the personal columns a logs config lists
(``"privacy": {"personal": ["user_id", ...]}``) are replaced, as the logs and side tables are
read, by a keyed hash (HMAC-SHA256) with a key the user keeps in a file given at run time
(``shoprank etl --key-file``). Every output of the ETL, and so every later artifact, holds
only the pseudonyms; the key itself is never written, only a check value that tells a
wrong key from the right one. The engine hashes the same columns of every request and event
with the same key (engine/privacy/pseudonyms.cpp, the code the bindings run here too).

Integer ids stay int64 (8 bytes of the hash), text ids become 32 hex characters, list
elements are hashed one by one; nulls stay null. Floats, timestamps and booleans cannot be
personal columns (an id read as float64 usually means integers with nulls: write them as
integers without nulls, or as text).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def pseudonyms(key_file):
    """The engine's keyed hash for the key in key_file (errors name the file)."""
    from shoprank._engine import Pseudonyms

    path = Path(key_file)
    if not path.is_file():
        raise FileNotFoundError(f"key file {path}: not found (make one with shoprank keygen "
                                f"{path})")
    return Pseudonyms(str(path))


def key_check(key_file) -> str:
    return pseudonyms(key_file).key_check


def pseudonymise_frame(frame: pd.DataFrame, columns, key_file) -> pd.DataFrame:
    """frame with each of `columns` it holds replaced by its pseudonyms (a copy)."""
    present = [c for c in columns if c in frame.columns]
    if not present:
        return frame
    hasher = pseudonyms(key_file)
    return frame.assign(**{c: _pseudonymise(frame[c], c, hasher) for c in present})


def pseudonymised_meta(meta: pd.DataFrame, columns) -> pd.DataFrame:
    """A frame's (empty) dtypes after pseudonymise_frame: integer columns become int64."""
    return meta.astype({c: np.int64 for c in columns
                        if c in meta.columns and _plain_integers(meta[c].dtype)})


def _plain_integers(dtype) -> bool:
    """NumPy integers (a nullable pandas Int64 is refused below, as floats are)."""
    return pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_extension_array_dtype(
        dtype)


def _null(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _pseudonymise(values: pd.Series, column: str, hasher) -> pd.Series:
    if _plain_integers(values.dtype):
        codes, uniques = pd.factorize(values)  # each distinct id hashed once
        if values.dtype == np.uint64 and len(uniques) and int(uniques.max()) >= 2**63:
            raise ValueError(f"privacy.personal: column {column!r} holds {uniques.max()}, "
                             "beyond int64 (the engine reads integer ids as int64): write "
                             "such ids as text")
        return pd.Series(hasher.ints(np.asarray(uniques, np.int64))[codes], index=values.index,
                         dtype=np.int64)
    if values.dtype != object and not pd.api.types.is_string_dtype(values.dtype):
        raise ValueError(f"privacy.personal: column {column!r} is read as {values.dtype}; only "
                         "integer (without nulls) or text columns can be pseudonymised: write "
                         "it as integers without nulls, or as text")

    def elements(value):  # a row's texts: one, a list's, or none for a null
        if _null(value):
            return []
        items = value if isinstance(value, (list, np.ndarray)) else [value]
        for v in items:
            if v is not None and not isinstance(v, str):
                raise ValueError(f"privacy.personal: column {column!r} holds {v!r} "
                                 f"({type(v).__name__}); expected integers or text")
        return [v for v in items if v is not None]

    distinct = list({v for value in values for v in elements(value)})
    texts = dict(zip(distinct, hasher.strings(distinct)))  # each hashed once, in one call

    def one(value):
        if _null(value):
            return value
        if isinstance(value, (list, np.ndarray)):  # a list column: element by element
            return [None if v is None else texts[v] for v in value]
        return texts[value]

    return values.map(one)


def with_key(config, key_file):
    """config with its key file (checked) where it lists personal columns; a key without
    personal columns, or personal columns without a key, is an error."""
    import dataclasses

    if config.personal and key_file is None:
        raise ValueError(f"privacy.personal lists {list(config.personal)}: give the key for "
                         "their pseudonyms (shoprank etl --key-file FILE; make one with "
                         "shoprank keygen FILE); the key is never written to the output")
    if key_file is None:
        return config
    if not config.personal:
        raise ValueError('a key file was given, but the logs config lists no personal columns '
                         '("privacy": {"personal": ["user_id"]})')
    check = key_check(key_file)  # reads and checks the key now, not in a worker later
    for name, table in config.side_tables.items():
        if table.pseudonymised not in (None, check):
            raise ValueError(f"side table {name} ({table.path}) holds pseudonyms made with "
                             f"another key than {key_file}: its ids would match no event")
    return dataclasses.replace(config, key_file=Path(key_file).resolve())


def pseudonymise_arrow(table, columns, key_file):
    """An Arrow table with its personal columns replaced, every type kept."""
    import pyarrow as pa

    for column in [c for c in columns if c in table.column_names]:
        field = table.schema.field(column)
        hashed = pseudonymise_frame(pd.DataFrame({column: table[column].to_pandas()}),
                                    [column], key_file)[column]
        kind = pa.int64() if pa.types.is_integer(field.type) else field.type  # 8-byte pseudonyms
        table = table.set_column(table.schema.get_field_index(column), field.with_type(kind),
                                 pa.array(hashed, type=kind))
    return table
