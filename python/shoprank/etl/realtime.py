"""Real-time behaviour features, computed offline from the logs (issue 20).

A logs config's ``"realtime": {"recent_clicks": 5, "window_minutes": 60}`` adds five
columns to every row, each as of the row's own time, counting only events strictly before
it (an impression never sees itself, nor others logged at the same millisecond):

    recent_clicks             the user's last N clicked item ids (as text), newest first;
                              [None] where there are none (a list column empty in every
                              row of a batch fails Merlin's loader; a null element is
                              Categorify's null id, "no history")
    recent_user_impressions   the user's impressions in [t - window, t)
    recent_user_clicks        ... and clicks (label > 0)
    recent_item_impressions   the item's impressions in [t - window, t)
    recent_item_clicks        ... and clicks
    recent_clicks_same_C      for each item column C in "match" (e.g. category): how many
                              of recent_clicks share the row's item's C

Served, the engine keeps the same state in memory and updates it from every event
(engine/online/online_state.cpp): these are the training twin of what it fills in. Rows
sharing a timestamp keep their file order (ties among clicks: the later row is newer). An
event counts only where it names both its user and its item; a row with a null user (item)
gets an empty list and zero user (item) counts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

COLUMNS = ("recent_clicks", "recent_user_impressions", "recent_user_clicks",
           "recent_item_impressions", "recent_item_clicks")
LIST_COLUMN, COUNT_COLUMNS = COLUMNS[0], COLUMNS[1:]


@dataclasses.dataclass(frozen=True)
class RealtimeConfig:
    recent_clicks: int = 5
    window_minutes: float = 60.0
    match: tuple[str, ...] = ()

    @property
    def window_ms(self) -> int:
        return int(round(self.window_minutes * 60_000))

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS + tuple(match_column(c) for c in self.match)

    @classmethod
    def from_dict(cls, raw) -> "RealtimeConfig":
        if not isinstance(raw, dict):
            raise ValueError("realtime: expected an object like {\"recent_clicks\": 5, "
                             "\"window_minutes\": 60}")
        unknown = sorted(set(raw) - {"recent_clicks", "window_minutes", "match"})
        if unknown:
            raise ValueError(f"realtime: unknown keys {unknown}; known keys: "
                             "['match', 'recent_clicks', 'window_minutes']")
        match = raw.get("match", [])
        if not isinstance(match, list) or not all(isinstance(c, str) for c in match):
            raise ValueError(f"realtime.match: expected a list of item columns, got {match!r}")
        config = cls(**{**raw, "match": tuple(match)})
        if not isinstance(config.recent_clicks, int) or isinstance(config.recent_clicks, bool) \
                or config.recent_clicks < 1:
            raise ValueError(f"realtime.recent_clicks: expected an integer >= 1, got "
                             f"{config.recent_clicks!r}")
        if not isinstance(config.window_minutes, (int, float)) or \
                isinstance(config.window_minutes, bool) or not config.window_ms >= 1:
            raise ValueError(f"realtime.window_minutes: expected a number of minutes > 0, got "
                             f"{config.window_minutes!r}")
        return config


def match_column(item_column: str) -> str:
    return f"recent_clicks_same_{item_column}"


def realtime_columns(user, item, time_ms, label, config: RealtimeConfig,
                     item_values: dict | None = None) -> dict:
    """The columns for rows given in log order (any time order): user and item ids (int or
    text, None/NaN for null), times in epoch milliseconds (int64), labels (> 0: a click),
    and for config.match each row's item's value of that column (item_values). Returns
    {column: object array of lists of str | float64 counts}."""
    time_ms = np.asarray(time_ms, np.int64)
    clicked = np.nan_to_num(np.asarray(label, np.float64)) > 0
    users, items = _codes(user), _codes(item)
    counted = (users >= 0) & (items >= 0)
    window = config.window_ms
    out = {}
    for side, codes in (("user", users), ("item", items)):
        impressions, clicks = _window_counts(codes, counted, time_ms, clicked, window)
        out[f"recent_{side}_impressions"], out[f"recent_{side}_clicks"] = impressions, clicks
    out[LIST_COLUMN], matches = _recent_clicks(users, items, _texts(item), time_ms, clicked,
                                               config.recent_clicks,
                                               {c: (item_values or {})[c] for c in config.match})
    for column, counts in matches.items():
        out[match_column(column)] = counts
    return {name: out[name] for name in config.columns}


def _codes(values) -> np.ndarray:
    """Group codes of ids, -1 for null."""
    import pandas as pd

    codes, _ = pd.factorize(np.asarray(values))
    return codes.astype(np.int64)


def _texts(values) -> np.ndarray:
    """Each id as the engine keys it: integers in decimal, text as it is."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype(np.int64).astype(str).astype(object)
    if values.dtype.kind == "f":  # integers with nulls read as floats
        return np.array([None if np.isnan(v) else str(int(v)) for v in values], dtype=object)
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def _placed(codes, time_ms, window):
    """Each row's time moved into its group's own range, so one sorted array holds every
    group and a search never crosses into the next group."""
    low, span = (int(time_ms.min()), int(np.ptp(time_ms))) if time_ms.size else (0, 0)
    stride = span + window + 1
    if (int(codes.max(initial=0)) + 1) * stride >= 2 ** 62:
        raise ValueError("realtime: too many ids times too long a period for the offline pass")
    return codes * stride + (time_ms - low), stride


def _window_counts(codes, counted, time_ms, clicked, window):
    """(impressions, clicks) among the counted rows of each row's group in [t - window, t)."""
    n = len(codes)
    impressions, clicks = np.zeros(n), np.zeros(n)
    known = codes >= 0
    if not counted.any():
        return impressions, clicks
    placed, _ = _placed(codes, time_ms, window)
    order = np.argsort(placed[counted], kind="stable")
    sorted_placed = placed[counted][order]
    clicks_upto = np.r_[0, np.cumsum(clicked[counted][order])]
    hi = np.searchsorted(sorted_placed, placed[known], side="left")
    lo = np.searchsorted(sorted_placed, placed[known] - window, side="left")
    impressions[known] = hi - lo
    clicks[known] = clicks_upto[hi] - clicks_upto[lo]
    return impressions, clicks


def _recent_clicks(users, items, item_texts, time_ms, clicked, last, item_values):
    """Each row's user's last `last` clicks before its time, newest first; and per column
    of item_values, how many of them share the row's item's value."""
    out = np.empty(len(users), dtype=object)
    for i in range(len(out)):
        out[i] = [None]
    matches = {c: np.zeros(len(users)) for c in item_values}
    is_click = clicked & (users >= 0) & (items >= 0)
    known = users >= 0
    if not is_click.any() or not known.any():
        return out, matches
    placed, stride = _placed(users, time_ms, 0)
    click_rows = np.flatnonzero(is_click)
    order = np.argsort(placed[click_rows], kind="stable")  # ties: file order
    click_rows, click_placed = click_rows[order], placed[click_rows][order]
    rows = np.flatnonzero(known)
    end = np.searchsorted(click_placed, placed[rows], side="left")       # before t
    start = np.searchsorted(click_placed, users[rows] * stride, side="left")  # the user's first
    lengths = end - np.maximum(start, end - last)
    firsts = np.cumsum(lengths) - lengths
    newest_first = np.repeat(end - 1, lengths) - (np.arange(lengths.sum()) -
                                                  np.repeat(firsts, lengths))
    elements = item_texts[click_rows[newest_first]]
    for row, part in zip(rows, np.split(elements, firsts[1:])):
        if len(part):
            out[row] = part.tolist()
    owner = np.repeat(rows, lengths)
    for column, values in item_values.items():
        values = np.asarray(values, dtype=object)
        theirs, mine = values[click_rows[newest_first]], values[owner]
        same = np.array([a is not None and b is not None and a == a and a == b
                         for a, b in zip(theirs, mine)], bool)
        matches[column][rows] = np.bincount(np.repeat(np.arange(len(rows)), lengths),
                                            weights=same, minlength=len(rows))
    return out, matches


def add_to_staged(config, folders) -> None:
    """Adds the columns to the ETL's staged splits (their Parquet files, oldest split first:
    one pass over every split, so valid and test rows see the train window's events)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [path for folder in folders for path in sorted(folder.glob("*.parquet"))]
    roles = [config.user_id, config.item_id, config.timestamp, config.label,
             *config.realtime.match]
    frame = pa.concat_tables([pq.read_table(path, columns=roles) for path in files],
                             promote=True).to_pandas()
    stamps = frame[config.timestamp]
    if stamps.isna().any():
        raise ValueError(f"realtime: {int(stamps.isna().sum())} rows have no {config.timestamp}"
                         f" (drop them with filters.drop_null)")
    columns = realtime_columns(frame[config.user_id].to_numpy(), frame[config.item_id].to_numpy(),
                               stamps.to_numpy().astype("datetime64[ms]").astype(np.int64),
                               frame[config.label].to_numpy(np.float64, na_value=np.nan),
                               config.realtime,
                               {c: frame[c].to_numpy(dtype=object) for c in config.realtime.match})
    start = 0
    for path in files:
        table = pq.read_table(path)
        rows = slice(start, start + table.num_rows)
        table = table.append_column(LIST_COLUMN, pa.array(list(columns[LIST_COLUMN][rows]),
                                                          type=pa.list_(pa.string())))
        for name in config.realtime.columns[1:]:
            table = table.append_column(name, pa.array(columns[name][rows], type=pa.float64()))
        pq.write_table(table, path)
        start = rows.stop
