"""Raw request columns, normalised for the engine: each column converted to the type the
artifacts declare for it (int64, float64, string, string_list, timestamp_ms), with nulls
kept as a validity mask. Errors name the column and what was wrong with it."""

from __future__ import annotations

import numpy as np

def is_null(value) -> bool:
    """None, NaN, NaT, and pandas' NA/NaT (recognised by name: pandas is not imported)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _values(name: str, value) -> np.ndarray:
    if isinstance(value, (str, bytes, dict)) or \
            (not isinstance(value, (list, tuple)) and np.ndim(value) == 0):
        raise ValueError(f"{name!r}: expected a sequence of values (one per row), got a scalar "
                         f"{type(value).__name__}")
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"{name!r}: expected a 1-D array, got shape {value.shape}")
        return value
    if hasattr(value, "to_numpy"):  # pandas
        return value.to_numpy()
    try:
        values = list(value)
    except TypeError:
        raise ValueError(f"{name!r}: expected a sequence of values (one per row), got "
                         f"{type(value).__name__}") from None
    array = np.empty(len(values), dtype=object)  # one element per row, lists included
    for i, v in enumerate(values):
        array[i] = v
    return array


def _null_mask(array: np.ndarray) -> np.ndarray:
    if array.dtype == object:
        return np.fromiter((is_null(v) for v in array), bool, len(array))
    if array.dtype.kind == "f":
        return np.isnan(array)
    if array.dtype.kind == "M":
        return np.isnat(array)
    return np.zeros(len(array), bool)


def _ints(name, array, nulls, valid):
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False), valid
    if array.dtype.kind == "b" or array.dtype.kind not in "fO":
        raise ValueError(f"{name!r}: expected integers, got {array.dtype} values")
    present = array[~nulls]
    out = np.zeros(len(array), np.int64)
    exact = np.array(present.tolist())  # Python ints: int64 (or uint64) where they fit
    if exact.dtype.kind in "iu" and len(exact):
        out[~nulls] = exact.astype(np.uint64).view(np.int64) if exact.dtype.kind == "u" \
            else exact
        return out, valid
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
           for v in present):  # exactly, not through float64 (ids past 2^53 would merge)
        out[~nulls] = _wrapped_int64(name, [int(v) for v in present])
        return out, valid
    odd = next((v for v in present if isinstance(v, (str, bytes, bool, np.bool_)) or
                not isinstance(v, (int, float, np.number))), None)
    if odd is not None:  # text that reads as a number is still text: no silent conversion
        raise ValueError(f"{name!r}: expected integers, got {odd!r} ({type(odd).__name__})")
    as_float = present.astype(np.float64)
    whole = np.isfinite(as_float) & (as_float == np.round(as_float))
    if not np.all(whole):
        raise ValueError(f"{name!r}: expected integers, got {present[~whole][0]!r}")
    if np.any(np.abs(as_float) > 2**53):  # a float there stands for many integers
        raise ValueError(f"{name!r}: {present[np.abs(as_float) > 2**53][0]!r} is a float "
                         "beyond 2^53, where floats skip integers: send ids as integers")
    out[~nulls] = as_float.astype(np.int64)
    return out, valid


def _wrapped_int64(name, values: list[int]) -> np.ndarray:
    """int64 bits of 64-bit integers: those past 2^63 - 1 as a uint64 array's view reads
    them (what the ETL's uint64 ids became)."""
    beyond = next((v for v in values if not -2**63 <= v < 2**64), None)
    if beyond is not None:
        raise ValueError(f"{name!r}: {beyond} does not fit 64 bits")
    return np.array([v - 2**64 if v >= 2**63 else v for v in values], np.int64)


def _floats(name, array, nulls, valid):
    if array.dtype.kind in "iuf":
        return array.astype(np.float64), None
    out = np.full(len(array), np.nan)
    try:
        out[~nulls] = array[~nulls].astype(np.float64)
    except (TypeError, ValueError):
        sample = next(v for v in array[~nulls] if not isinstance(v, (int, float, np.number)))
        raise ValueError(f"{name!r}: expected numbers, got {sample!r}") from None
    return out, None


# Integer timestamps are milliseconds since the epoch. Epoch *seconds* (what the ETL reads
# from an integer column of the logs) of any date from 2001 to 5138 fall in this range and
# would read as a day in 1970-1973: refused as a unit mistake rather than answered wrong.
SECONDS_LIKE = (10**9, 10**11)


def _timestamps(name, array, nulls, valid):
    if array.dtype.kind == "M":
        return array.astype("datetime64[ms]").astype(np.int64), valid
    if array.dtype.kind in "iu":  # milliseconds since the epoch
        return _checked_ms(name, array.astype(np.int64), nulls), valid
    if all(n or isinstance(v, (int, np.integer)) for v, n in zip(array, nulls)):
        nat = np.datetime64("NaT", "ms").astype(np.int64)  # what a null reads as below
        return _checked_ms(name, np.array([nat if n else v for v, n in zip(array, nulls)],
                                          np.int64), nulls), valid
    try:
        stamps = np.array([np.datetime64("NaT") if n else np.datetime64(v, "ms")
                           for v, n in zip(array, nulls)], dtype="datetime64[ms]")
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name!r}: expected timestamps (datetime64 or ms since the epoch): "
                         f"{error}") from None
    return stamps.astype(np.int64), valid


def _checked_ms(name, values: np.ndarray, nulls) -> np.ndarray:
    odd = (values >= SECONDS_LIKE[0]) & (values < SECONDS_LIKE[1]) & ~np.asarray(nulls, bool)
    if odd.any():
        value = int(values[odd][0])
        raise ValueError(f"{name!r}: {value} would be {np.datetime64(value, 'ms')} as "
                         f"milliseconds; it looks like seconds since the epoch "
                         f"({np.datetime64(value, 's')}). Integer timestamps are milliseconds: "
                         "multiply by 1000, or pass datetime64 values")
    return values


def _text(name, value, what):
    if isinstance(value, (str, np.str_)):
        return str(value)
    raise ValueError(f"{name!r}: expected {what}, got {value!r}" +
                     (f" ({type(value).__name__})" if what == "text" else ""))


def _strings(name, array, nulls, valid):
    return ["" if null else _text(name, v, "text") for v, null in zip(array, nulls)], valid


def _string_lists(name, array, nulls, valid):
    flat, element_valid, offsets = [], [], [0]
    for v, null in zip(array, nulls):
        if not null:
            if isinstance(v, (str, bytes)) or np.ndim(v) != 1:
                raise ValueError(f"{name!r}: expected a list of text per row, got {v!r}")
            for element in v:
                missing = is_null(element)
                flat.append("" if missing else _text(name, element, "text in each list"))
                element_valid.append(0 if missing else 1)
        offsets.append(len(flat))
    return flat, np.asarray(offsets, np.int64), valid, np.asarray(element_valid, np.uint8)


# The tuple the binding (csrc/ranker.cpp) takes for each input type.
_NORMALISERS = {"int64": _ints, "float64": _floats, "timestamp_ms": _timestamps,
                "string": _strings, "string_list": _string_lists}


def normalise(name: str, kind: str, value):
    """One column as the tuple the binding takes for its type."""
    if kind not in _NORMALISERS:
        raise ValueError(f"unknown input type {kind!r} for {name!r}")
    array = _values(name, value)
    nulls = _null_mask(array)
    return _NORMALISERS[kind](name, array, nulls, (~nulls).astype(np.uint8))


def check_names(inputs: dict[str, str], names) -> None:
    """Worded as the engine words it (Ranker::check_input_names): the client checks
    before it sends."""
    unknown = [name for name in names if name not in inputs]
    if unknown:
        raise ValueError(f"unknown input column(s): {', '.join(map(str, unknown))} "
                         f"(the model reads: {', '.join(inputs)})")


def request_columns(inputs: dict[str, str], item_key: str | None, user, candidates) -> dict:
    """Checks one ranking request (the user's columns, and the candidates as a dict of
    columns or a sequence of item ids) and returns the candidates as a dict of columns."""
    if not isinstance(user, dict):
        raise TypeError(f"user: expected a dict of the request's columns, got "
                        f"{type(user).__name__}")
    if not isinstance(candidates, dict):
        if item_key is None:
            raise ValueError("this model has no item table: give candidates as a dict of "
                             "columns")
        candidates = {item_key: candidates}
    both = sorted(set(user) & set(candidates))
    if both:
        raise ValueError(f"columns given for both the user and the candidates: {both}")
    check_names(inputs, list(user) + list(candidates))
    return candidates


def check_recommend_columns(inputs: dict[str, str], user) -> None:
    """A recommendation request's own columns (one value each): names among `inputs`, which
    never hold the item id or an item-table column (the engine chooses the items)."""
    if not isinstance(user, dict):
        raise TypeError(f"user: expected a dict of the request's columns, got "
                        f"{type(user).__name__}")
    unknown = sorted(set(user) - set(inputs))
    if unknown:
        raise ValueError(f"request column(s) {unknown}: a recommendation request carries "
                         f"only the request's own columns ({', '.join(inputs)}); the "
                         "engine chooses the items and looks up their columns")


def normalise_columns(inputs: dict[str, str], raw: dict) -> dict:
    """{name: normalised tuple} for every raw column; unknown names are an error."""
    if not isinstance(raw, dict):
        raise TypeError(f"expected a dict of columns, got {type(raw).__name__}")
    check_names(inputs, raw)
    return {name: normalise(name, inputs[name], value) for name, value in raw.items()}
