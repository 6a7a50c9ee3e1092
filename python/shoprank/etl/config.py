"""The logs config: how a user describes their own interaction logs to ``shoprank etl``.

A JSON file beside the data (``shoprank generate`` writes one for its logs). Its format,
every key with its default and a complete example, is in README.md ("Your own logs");
tests/etl/test_config_docs.py checks that section against this module.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from shoprank.etl.privacy import PrivacyConfig
from shoprank.etl.realtime import RealtimeConfig

FORMATS = ("parquet", "csv", "criteo")
P_CLICK = "_p_click"  # the generator's true click probability: carried, never a feature
CRITEO_COLUMNS = (["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)])


SPLITS = ("train", "valid", "test")
# in an ETL output: what serving needs about the inputs (etl/inputs.py), and every table
# serving looks up by key (side-table snapshots and derived tables), one Parquet file each
INPUTS_FILE, TABLES_FOLDER = "inputs.json", "tables"
# the tables the ETL derives from already-joined logs: (table, its columns' key, its key's)
DERIVED_TABLES = (("users", "user_columns", "user_id"), ("items", "item_columns", "item_id"))


@dataclasses.dataclass(frozen=True)
class SideTable:
    path: Path
    key: str
    derived: bool = False  # made by the ETL from the logs' own columns
    # its personal columns already hold pseudonyms (an event log's copy of an ETL output's
    # tables): the key check of the key they were made with, and they are read as they are
    pseudonymised: str | None = None


@dataclasses.dataclass(frozen=True)
class LogsConfig:
    root: Path                       # the folder the config's paths are relative to
    format: str
    impressions: str                 # a glob, or "" where split_files name each split's
    label: str
    timestamp: str | None = None
    timestamp_unit: str = "s"        # of integer timestamps: s, ms, us or ns since the epoch
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
    split_files: dict[str, str] = dataclasses.field(default_factory=dict)  # split: glob
    user_columns: tuple[str, ...] = ()   # columns of the logs that belong to the user ...
    item_columns: tuple[str, ...] = ()   # ... and to the item: the ETL derives their tables
    freq_threshold: int = 1
    p_click: str | None = None       # criteo: a .npy sidecar of true click probabilities
    realtime: RealtimeConfig | None = None  # real-time behaviour features (etl/realtime.py)
    privacy: PrivacyConfig | None = None    # noisy statistics, pseudonyms (etl/privacy.py)
    key_file: Path | None = None     # the pseudonyms' key (given at run time, never in JSON)

    @property
    def personal(self) -> tuple[str, ...]:
        """The columns replaced by keyed pseudonyms as they are read (etl/pseudonyms.py)."""
        return self.privacy.personal if self.privacy else ()

    @property
    def passthrough_columns(self) -> tuple[str, ...]:
        """Passthrough columns, with the sidecar's true click probability where there is one."""
        sidecar = (P_CLICK,) if self.p_click and P_CLICK not in self.passthrough else ()
        return (*self.passthrough, *sidecar)

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.other_labels)

    @property
    def derived_tables(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """{table name: (key column, columns)} of the tables the ETL derives from the logs."""
        return {name: (getattr(self, key), getattr(self, columns))
                for name, columns, key in DERIVED_TABLES if getattr(self, columns)}

    @property
    def impression_globs(self) -> dict[str, str]:
        """{split: glob} of files given per split, or {"all": glob} of logs to split by time."""
        return dict(self.split_files) or {"all": self.impressions}

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
        derived = [c for key, columns in self.derived_tables.values() for c in (key, *columns)]
        events = [self.user_id, self.item_id, *self.realtime.match] if self.realtime else []
        return list(dict.fromkeys([*keys, *extra, *self.labels, *self.feature_columns(),
                                   *passthrough, *self.drop_null, *derived, *events]))


_KNOWN_KEYS = {"format", "impressions", "timestamp", "label", "other_labels", "user_id",
               "item_id", "side_tables", "categorical", "hashed", "multi_valued", "continuous",
               "crosses", "time_features", "statistics", "passthrough", "filters", "split",
               "freq_threshold", "p_click", "user_columns", "item_columns", "realtime",
               "privacy", "timestamp_unit"}
TIMESTAMP_UNITS = ("s", "ms", "us", "ns")


def config_file(path: str | Path) -> Path:
    """The logs.json a --config argument names (the file, or the folder holding it)."""
    path = Path(path)
    return path / "logs.json" if path.is_dir() else path


def load_config(path: str | Path) -> LogsConfig:
    """Reads and checks a logs config; every mistake is a ValueError naming the key."""
    path = config_file(path)
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
    if not isinstance(raw.get("label"), str):
        raise ValueError("label: required, a string")
    impressions, split_files = _impressions(raw.get("impressions"))
    split = raw.get("split", {})
    if split and split_files:
        raise ValueError("split: the impressions are already split into files; give either "
                         "split fractions or a file pattern per split, not both")
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
    unit = raw.get("timestamp_unit", "s")
    if unit not in TIMESTAMP_UNITS:
        raise ValueError(f"timestamp_unit: one of {', '.join(TIMESTAMP_UNITS)} (of integer "
                         f"timestamps since the epoch), got {unit!r}")
    freq = int(raw.get("freq_threshold", 1))
    if freq < 0:
        raise ValueError(f"freq_threshold: must be >= 0, got {freq}")
    sides = {}
    for name, table in raw.get("side_tables", {}).items():
        if not isinstance(table, dict) or not {"path", "key"} <= set(table):
            raise ValueError(f"side_tables.{name}: expected {{'path': ..., 'key': ...}}")
        made_with = table.get("pseudonymised")
        if made_with is not None and not isinstance(made_with, str):
            raise ValueError(f"side_tables.{name}.pseudonymised: the key check of the key its "
                             f"pseudonyms were made with (text), got {made_with!r}")
        sides[name] = SideTable(root / table["path"], str(table["key"]),
                                pseudonymised=made_with)
    config = LogsConfig(
        root=root, format=fmt, impressions=impressions, label=raw["label"],
        timestamp=raw.get("timestamp"), timestamp_unit=unit,
        other_labels=tuple(_strings(raw.get("other_labels", []), "other_labels")),
        user_id=raw.get("user_id"), item_id=raw.get("item_id"), side_tables=sides,
        categorical=tuple(_strings(raw.get("categorical", []), "categorical")), hashed=hashed,
        multi_valued=tuple(_strings(raw.get("multi_valued", []), "multi_valued")),
        continuous=tuple(_strings(raw.get("continuous", []), "continuous")), crosses=crosses,
        time_features=tuple(_strings(raw.get("time_features", []), "time_features")),
        count_statistics=tuple(_strings(statistics.get("count", []), "statistics.count")),
        ctr_statistics=tuple(_strings(statistics.get("ctr", []), "statistics.ctr")),
        passthrough=tuple(_strings(raw.get("passthrough", []), "passthrough")),
        drop_null=tuple(_strings(filters.get("drop_null", []), "filters.drop_null")),
        valid_fraction=valid, test_fraction=test, split_files=split_files,
        user_columns=tuple(_strings(raw.get("user_columns", []), "user_columns")),
        item_columns=tuple(_strings(raw.get("item_columns", []), "item_columns")),
        freq_threshold=freq, p_click=raw.get("p_click"),
        realtime=RealtimeConfig.from_dict(raw["realtime"]) if "realtime" in raw else None,
        privacy=PrivacyConfig.from_dict(raw["privacy"]) if "privacy" in raw else None,
    )
    _check_roles(config)
    _check_names(config)
    _check_personal(config)
    _check_realtime(config)
    _check_derived_tables(config)
    return config


# TensorFlow names a model's inputs (and Keras their scopes) after the features and labels,
# and the ETL names files after them: other characters fail there, late.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def _check_names(config: LogsConfig) -> None:
    for name in [*config.feature_columns(), *config.labels]:
        if not MODEL_NAME.fullmatch(name):
            raise ValueError(f"column {name!r}: the names of features and labels may hold only "
                             "ASCII letters, digits, '_', '.' and '-', and begin with a letter or "
                             "digit (TensorFlow names the model's inputs after them): rename the "
                             "column in the data")


def _check_personal(config: LogsConfig) -> None:
    marked = [name for name, table in config.side_tables.items() if table.pseudonymised]
    if marked and not config.personal:
        raise ValueError(f"side_tables {marked} hold pseudonyms, but privacy.personal lists "
                         "no columns")
    if not config.personal:
        return
    read = set(config.required_columns()) | {t.key for t in config.side_tables.values()}
    unread = [c for c in config.personal if c not in read]
    if unread:
        raise ValueError(f"privacy.personal: {unread} are not columns the ETL reads")
    odd = [c for c in config.personal if c in (config.timestamp, *config.labels)]
    if odd:
        raise ValueError(f"privacy.personal: {odd} are labels or the timestamp, not ids")
    numbers = [c for c in config.personal if c in config.continuous]
    if numbers:
        raise ValueError(f"privacy.personal: {numbers} are continuous features; their "
                         "pseudonyms would be meaningless numbers")
    if config.item_id in config.personal:
        raise ValueError(f"privacy.personal: {config.item_id!r} is the item id, which "
                         "recommendations return; it cannot be pseudonymised")


def _check_realtime(config: LogsConfig) -> None:
    if config.realtime is None:
        return
    missing = [key for key in ("user_id", "item_id", "timestamp") if not getattr(config, key)]
    if missing:
        raise ValueError(f"realtime: the features follow users and items over time; the "
                         f"config must name {', '.join(missing)}")
    taken = sorted(set(config.realtime.columns) & set(config.required_columns()))
    if taken:
        raise ValueError(f"realtime: the ETL makes the columns {taken}; rename those of the "
                         "logs")
    odd = [c for c in config.realtime.match if c in (config.user_id, config.item_id,
                                                     config.timestamp, *config.labels)]
    if odd:
        raise ValueError(f"realtime.match: {odd} are ids, the timestamp or labels, not "
                         "attributes of an item")


def _impressions(value) -> tuple[str, dict[str, str]]:
    """(glob, {}) or ("", {split: glob}) from the config's "impressions"."""
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, dict):
        raise ValueError("impressions: required, a file pattern or {\"train\": pattern, "
                         "\"valid\": pattern, \"test\": pattern}")
    unknown = sorted(set(value) - set(SPLITS))
    if unknown or not {"train", "test"} <= set(value):
        raise ValueError(f"impressions: the splits must be train and test, and valid if "
                         f"wanted; got {sorted(value)}")
    if not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"impressions: expected a file pattern per split, got {value!r}")
    return "", {name: value[name] for name in SPLITS if name in value}


def _check_derived_tables(config: LogsConfig) -> None:
    for name, setting, key_setting in DERIVED_TABLES:
        columns, key = getattr(config, setting), getattr(config, key_setting)
        if not columns:
            continue
        if not key:
            raise ValueError(f"{setting}: the config must name {key_setting} (the key of the "
                             f"{name} table these columns make)")
        if name in config.side_tables:
            raise ValueError(f"{setting}: the config already has a side table {name!r}; list "
                             f"its columns there, or drop the side table")
        if key in columns:
            raise ValueError(f"{setting}: {key!r} is the table's key, not one of its columns")
    both = sorted(set(config.user_columns) & set(config.item_columns))
    if both:
        raise ValueError(f"columns listed for both the user and the item: {both}")
    taken = sorted(set(config.user_columns + config.item_columns)
                   & {config.label, *config.other_labels, config.timestamp})
    if taken:
        raise ValueError(f"user_columns / item_columns: {taken} are labels or the timestamp, "
                         "not attributes of a user or an item")


def read_back(etl_dir) -> LogsConfig:
    """The logs config an ETL output was made from, its side tables read from the output's
    tables/ folder: the copy of the config kept in inputs.json, so no raw file is needed."""
    etl_dir = Path(etl_dir)
    summary = etl_dir / "summary.json"
    if not summary.is_file():
        raise FileNotFoundError(f"{summary}: not an ETL output folder (shoprank etl)")
    inputs = etl_dir / INPUTS_FILE
    if inputs.is_file():
        saved = json.loads(inputs.read_text())
        config = from_dict(saved["config"], Path(saved["root"]))
        tables = {name: SideTable(etl_dir / table["path"], table["key"], table["derived"])
                  for name, table in saved["tables"].items()}
        return dataclasses.replace(config, side_tables=tables)
    # Written before the ETL kept its inputs: the config and side tables are read where the
    # logs were, as then (the derived tables were always in the output).
    path = json.loads(summary.read_text())["config"]
    if not config_file(path).is_file():
        raise FileNotFoundError(inputs_gone(etl_dir, f"its logs config {path} is gone"))
    config = load_config(path)
    derived = {name: SideTable(etl_dir / TABLES_FOLDER / f"{name}.parquet", key, derived=True)
               for name, (key, _) in config.derived_tables.items()}
    return dataclasses.replace(config, side_tables={**config.side_tables, **derived})


def inputs_gone(etl_dir, what: str) -> str:
    """The error for an ETL output without inputs.json whose raw inputs have moved."""
    return (f"{etl_dir} has no {INPUTS_FILE} (it was written by an older shoprank etl), so "
            f"the raw logs are read again, but {what}: run shoprank etl again")


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
