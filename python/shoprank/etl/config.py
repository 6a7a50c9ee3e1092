"""The logs config: how a user describes their own interaction logs to ``shoprank etl``.

A small JSON file beside the data (``shoprank generate`` writes one for its logs)::

    {"format": "parquet",                        # parquet | csv | criteo
     "impressions": "impressions/*.parquet",     # glob, relative to the config file
     "timestamp": "timestamp",                   # null: the file order is the time order
     "label": "click", "other_labels": ["purchase"],
     "user_id": "user_id", "item_id": "item_id",
     "side_tables": {"items": {"path": "items.parquet", "key": "item_id"}},
     "categorical": ["item_id", "device"],       # Categorify (freq_threshold, null/unseen ids)
     "hashed": {"session_id": 100000},           # HashBucket into that many buckets
     "multi_valued": ["tags"],                   # list columns, Categorify per element
     "continuous": ["price"],                    # FillMissing, Clip >= 0, LogOp, Normalize
     "crosses": [["user_id", "category"]],       # Categorify of the combination
     "time_features": ["timestamp"],             # hour and weekday
     "statistics": {"count": ["item_id"], "ctr": ["item_id"]},   # on the train window only
     "passthrough": ["_p_click"],                # carried to the output untouched
     "filters": {"drop_null": ["user_id"]},      # the only way rows may be dropped
     "split": {"valid": 0.1, "test": 0.1},       # the latest 10% test, the 10% before valid
     "freq_threshold": 2}
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

FORMATS = ("parquet", "csv", "criteo")
P_CLICK = "_p_click"  # the generator's true click probability: carried, never a feature
CRITEO_COLUMNS = (["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)])


@dataclasses.dataclass(frozen=True)
class SideTable:
    path: Path
    key: str


@dataclasses.dataclass(frozen=True)
class LogsConfig:
    root: Path                       # the folder the config's paths are relative to
    format: str
    impressions: str
    label: str
    timestamp: str | None = None
    other_labels: tuple[str, ...] = ()
    user_id: str | None = None
    item_id: str | None = None
    side_tables: dict[str, SideTable] = dataclasses.field(default_factory=dict)
    categorical: tuple[str, ...] = ()
    hashed: dict[str, int] = dataclasses.field(default_factory=dict)
    multi_valued: tuple[str, ...] = ()
    continuous: tuple[str, ...] = ()
    crosses: tuple[tuple[str, ...], ...] = ()
    time_features: tuple[str, ...] = ()
    count_statistics: tuple[str, ...] = ()
    ctr_statistics: tuple[str, ...] = ()
    passthrough: tuple[str, ...] = ()
    drop_null: tuple[str, ...] = ()
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    freq_threshold: int = 1
    p_click: str | None = None       # criteo: a .npy sidecar of true click probabilities

    @property
    def passthrough_columns(self) -> tuple[str, ...]:
        """Passthrough columns, with the sidecar's true click probability where there is one."""
        sidecar = (P_CLICK,) if self.p_click and P_CLICK not in self.passthrough else ()
        return (*self.passthrough, *sidecar)

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.other_labels)

    def feature_columns(self) -> list[str]:
        """Every raw column a feature is built from (after the side tables are joined)."""
        columns = [*self.categorical, *self.hashed, *self.multi_valued, *self.continuous,
                   *self.time_features, *(c for cross in self.crosses for c in cross),
                   *self.count_statistics, *self.ctr_statistics]
        return list(dict.fromkeys(columns))

    def required_columns(self) -> list[str]:
        """Every column the ETL reads from the joined logs."""
        keys = [t.key for t in self.side_tables.values()]
        extra = [self.timestamp] if self.timestamp else []
        passthrough = [c for c in self.passthrough if not (self.p_click and c == P_CLICK)]
        return list(dict.fromkeys([*keys, *extra, *self.labels, *self.feature_columns(),
                                   *passthrough, *self.drop_null]))


_KNOWN_KEYS = {"format", "impressions", "timestamp", "label", "other_labels", "user_id",
               "item_id", "side_tables", "categorical", "hashed", "multi_valued", "continuous",
               "crosses", "time_features", "statistics", "passthrough", "filters", "split",
               "freq_threshold", "p_click"}


def load_config(path: str | Path) -> LogsConfig:
    """Reads and checks a logs config; every mistake is a ValueError naming the key."""
    path = Path(path)
    if path.is_dir():
        path = path / "logs.json"
    if not path.is_file():
        raise FileNotFoundError(f"logs config not found: {path} (shoprank generate writes one; "
                                "see shoprank etl --help for the format)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object")
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; known keys: {sorted(_KNOWN_KEYS)}")
    return from_dict(raw, path.parent)


def from_dict(raw: dict, root: Path) -> LogsConfig:
    fmt = raw.get("format", "parquet")
    if fmt not in FORMATS:
        raise ValueError(f"format: expected one of {FORMATS}, got {fmt!r}")
    for key in ("impressions", "label"):
        if not isinstance(raw.get(key), str):
            raise ValueError(f"{key}: required, a string")
    split = raw.get("split", {})
    valid, test = float(split.get("valid", 0.1)), float(split.get("test", 0.1))
    if not (0 <= valid < 1 and 0 < test < 1 and valid + test < 1):
        raise ValueError(f"split: valid and test must be fractions with valid + test < 1 and "
                         f"test > 0, got valid={valid}, test={test}")
    hashed = {str(c): int(n) for c, n in raw.get("hashed", {}).items()}
    bad = {c: n for c, n in hashed.items() if n < 1}
    if bad:
        raise ValueError(f"hashed: bucket counts must be >= 1, got {bad}")
    crosses = tuple(tuple(_strings(cross, "crosses")) for cross in raw.get("crosses", []))
    if any(len(cross) < 2 for cross in crosses):
        raise ValueError(f"crosses: each cross needs at least two columns, got {crosses}")
    statistics = raw.get("statistics", {})
    unknown_stats = sorted(set(statistics) - {"count", "ctr"})
    if unknown_stats:
        raise ValueError(f"statistics: unknown kinds {unknown_stats}; known: count, ctr")
    filters = raw.get("filters", {})
    if sorted(set(filters) - {"drop_null"}):
        raise ValueError(f"filters: only 'drop_null' is supported, got {sorted(filters)}")
    freq = int(raw.get("freq_threshold", 1))
    if freq < 0:
        raise ValueError(f"freq_threshold: must be >= 0, got {freq}")
    sides = {}
    for name, table in raw.get("side_tables", {}).items():
        if not isinstance(table, dict) or not {"path", "key"} <= set(table):
            raise ValueError(f"side_tables.{name}: expected {{'path': ..., 'key': ...}}")
        sides[name] = SideTable(root / table["path"], str(table["key"]))
    config = LogsConfig(
        root=root, format=fmt, impressions=raw["impressions"], label=raw["label"],
        timestamp=raw.get("timestamp"), other_labels=tuple(_strings(raw.get("other_labels", []),
                                                                     "other_labels")),
        user_id=raw.get("user_id"), item_id=raw.get("item_id"), side_tables=sides,
        categorical=tuple(_strings(raw.get("categorical", []), "categorical")), hashed=hashed,
        multi_valued=tuple(_strings(raw.get("multi_valued", []), "multi_valued")),
        continuous=tuple(_strings(raw.get("continuous", []), "continuous")), crosses=crosses,
        time_features=tuple(_strings(raw.get("time_features", []), "time_features")),
        count_statistics=tuple(_strings(statistics.get("count", []), "statistics.count")),
        ctr_statistics=tuple(_strings(statistics.get("ctr", []), "statistics.ctr")),
        passthrough=tuple(_strings(raw.get("passthrough", []), "passthrough")),
        drop_null=tuple(_strings(filters.get("drop_null", []), "filters.drop_null")),
        valid_fraction=valid, test_fraction=test, freq_threshold=freq,
        p_click=raw.get("p_click"),
    )
    _check_roles(config)
    return config


def _strings(values, key: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{key}: expected a list of column names, got {values!r}")
    return values


def _check_roles(config: LogsConfig) -> None:
    """A column has one role: a label used as a feature would leak the answer."""
    features = set(config.feature_columns()) - set(config.count_statistics) \
        - set(config.ctr_statistics)
    leaking = sorted(features & set(config.labels))
    if leaking:
        raise ValueError(f"{leaking} are labels and cannot also be features")
    roles = {"categorical": config.categorical, "hashed": tuple(config.hashed),
             "multi_valued": config.multi_valued, "continuous": config.continuous}
    seen: dict[str, str] = {}
    for role, columns in roles.items():
        for column in columns:
            if column in seen:
                raise ValueError(f"column {column!r} is both {seen[column]} and {role}")
            seen[column] = role
