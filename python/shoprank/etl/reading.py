"""Reading raw logs into one Dask DataFrame, checked before any work is done.

Every problem a user's files can have is found here and reported with a message that
names the file or the column: no files, an unreadable or truncated Parquet file, a column
the config names that the data lacks, text in a numeric column, a timestamp that cannot be
parsed, duplicate keys in a side table.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd

from shoprank.etl.config import CRITEO_COLUMNS, P_CLICK, LogsConfig
from shoprank.etl.pseudonyms import pseudonymise_frame, pseudonymised_meta

ROW = "_row"  # global row number, kept while splitting logs that have no timestamp
SAMPLE = 5


class LogsError(ValueError):
    """The input logs (not the program) are at fault; the message says where."""


def find_files(config: LogsConfig, split: str | None = None) -> list[Path]:
    """The impression files of one entry of config.impression_globs ("all", or a split's
    own files), or of every entry; each opened once."""
    globs = config.impression_globs
    files = []
    for name in [split] if split else globs:
        pattern = str(config.root / globs[name])
        found = sorted(Path(p) for p in glob.glob(pattern))
        if not found:
            raise LogsError(f"no input files match {pattern}" +
                            (f" (the {name} split)" if name != "all" else ""))
        files += found
    for path in files:
        check_file(path, config.format)
    return files


def check_file(path: Path, fmt: str) -> None:
    """Opens every file once: an unreadable or truncated file is named before any work."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pq.ParquetFile(path).metadata  # the footer: a truncated file fails here
        except Exception as error:
            raise LogsError(f"{path}: unreadable Parquet file ({error})") from None
        return
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as error:
        raise LogsError(f"{path}: unreadable ({error})") from None


def file_columns(path: Path, fmt: str) -> list[str]:
    if fmt == "criteo":
        return list(CRITEO_COLUMNS)
    if fmt == "csv":
        return list(pd.read_csv(path, nrows=0).columns)
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def check_columns(config: LogsConfig, files: list[Path]) -> dict[str, list[str]]:
    """Columns of the impressions and of each side table; a missing one is an error that
    lists what exists."""
    found = {"impressions": file_columns(files[0], config.format)}
    for name, table in config.side_tables.items():
        check_file(table.path, "parquet")
        found[name] = file_columns(table.path, "parquet")
        if table.key not in found[name]:
            raise LogsError(f"side table {name} ({table.path}) has no key column {table.key!r}; "
                            f"its columns: {found[name]}")
    available = {column for columns in found.values() for column in columns}
    missing = [c for c in config.required_columns() if c not in available]
    if missing:
        listing = "; ".join(f"{name}: {columns}" for name, columns in found.items())
        raise LogsError(f"the config names columns the data lacks: {missing}. "
                        f"Columns that exist: {listing}")
    wanted = [c for c in config.required_columns() if c in found["impressions"]]
    for path in files[1:]:  # each file, not only the first (a footer or a header each)
        lacking = [c for c in wanted if c not in file_columns(path, config.format)]
        if lacking:
            raise LogsError(f"{path} has no column(s) {lacking}, which {files[0]} has")
    return found


def read_logs(config: LogsConfig, files: list[Path], *, part_size: str = "64MB"):
    """The impressions with the side tables joined, types checked, filters applied.

    Returns (dask DataFrame, rows read, {reason: rows dropped}). Row order within and
    across partitions is the files' order.
    """
    columns = check_columns(config, files)
    ddf = _read_impressions(config, files, columns["impressions"], part_size)
    if config.personal:  # each source before the joins: keys match as pseudonyms, and an
        # integer column keeps its type (a left join's misses would make it float)
        if config.key_file is None:
            raise ValueError(f"privacy.personal lists {list(config.personal)}: no key file given")
        ddf = ddf.map_partitions(pseudonymise_frame, config.personal, str(config.key_file),
                                 meta=pseudonymised_meta(ddf._meta, config.personal))
    for name, table in config.side_tables.items():
        side = _read_side_table(config, name, table, columns[name])
        if config.personal and not table.pseudonymised:
            side = pseudonymise_frame(side, config.personal, config.key_file)
        _check_key_kinds(config, name, table, ddf._meta[table.key].dtype, side[table.key].dtype)
        ddf = ddf.merge(side, how="left", on=table.key)
    ddf = _check_types(config, ddf)
    rows_read = len(ddf)
    if config.p_click:
        ddf = _attach_p_click(config, ddf, rows_read)
    if rows_read == 0:
        raise LogsError(f"the input holds no rows: {[str(f) for f in files]}")
    dropped = {}
    for column in config.drop_null:
        before = ddf
        ddf = ddf[ddf[column].notnull()]
        dropped[f"null {column}"] = int(before[column].isnull().sum().compute())
    return ddf, rows_read, dropped


def _kind(dtype) -> str:
    if isinstance(dtype, pd.CategoricalDtype):  # a Categorical joins as its values
        dtype = dtype.categories.dtype
    return "numbers" if pd.api.types.is_numeric_dtype(dtype) else "text"


def _check_key_kinds(config: LogsConfig, name: str, table, logs, side) -> None:
    """A join of numbers with text matches nothing (pandas refuses it with advice that
    does not apply): named with both types."""
    if _kind(logs) != _kind(side):
        raise LogsError(
            f"side table {name} ({table.path}): its key {table.key!r} holds {_kind(side)} "
            f"({side}), the logs' {_kind(logs)} ({logs})"
            + (" (a CSV log's columns are read as text)" if config.format == "csv" else "")
            + ": write the key as the same type in both")


def _read_impressions(config: LogsConfig, files, available: list[str], part_size: str):
    import dask.dataframe as dd

    wanted = [c for c in config.required_columns() if c in available]
    if config.format == "parquet":
        ddf = dd.read_parquet([str(f) for f in files], columns=wanted, engine="pyarrow",
                              split_row_groups=True)
    elif config.format == "csv":  # file by file: each may order its columns its own way
        ddf = dd.concat([dd.read_csv(str(f), usecols=wanted, blocksize=part_size,
                                     dtype={c: "object" for c in wanted})[wanted]
                         for f in files])
    else:
        ddf = dd.read_csv([str(f) for f in files], sep="\t", header=None, names=CRITEO_COLUMNS,
                          blocksize=part_size, dtype="object")[wanted]
    nullable = [c for c in ddf.columns if _nullable_integers(ddf._meta[c].dtype)]
    if nullable:  # pandas' Int64 (nulls allowed): as a file without pandas' metadata reads,
        # int64 where no file holds a null (every bit kept), else float64
        with_nulls = _holding_nulls(files, nullable)
        ddf = ddf.astype({c: "float64" if c in with_nulls else "int64" for c in nullable})
    if config.timestamp is None or config.p_click:
        ddf = _number_rows(ddf)
    return ddf


def _holding_nulls(files, columns: list[str]) -> set[str]:
    """The columns any Parquet file's statistics count a null in (a row group without
    statistics counts as holding some); each file's footer read once."""
    import pyarrow.parquet as pq

    found = set()
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        for i in range(metadata.num_columns):
            if metadata.schema.column(i).path not in columns:
                continue
            for group in range(metadata.num_row_groups):
                stats = metadata.row_group(group).column(i).statistics
                if stats is None or not stats.has_null_count or stats.null_count > 0:
                    found.add(metadata.schema.column(i).path)
    return found


def _nullable_integers(dtype) -> bool:
    return pd.api.types.is_integer_dtype(dtype) and pd.api.types.is_extension_array_dtype(dtype)


def _number_rows(ddf):
    """A global row number (the time order of logs without a timestamp)."""
    lengths = ddf.map_partitions(len).compute().to_numpy()
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    def number(part, partition_info=None):
        start = offsets[partition_info["number"]]
        return part.assign(**{ROW: np.arange(start, start + len(part), dtype=np.int64)})

    meta = ddf._meta.assign(**{ROW: np.array([], dtype=np.int64)})
    return ddf.map_partitions(number, meta=meta)


def _read_side_table(config: LogsConfig, name: str, table, available: list[str]) -> pd.DataFrame:
    wanted = [c for c in config.required_columns() if c in available]
    frame = pd.read_parquet(table.path, columns=list(dict.fromkeys([table.key, *wanted])))
    frame = frame.astype({c: "float64" if frame[c].isna().any() else "int64"
                          for c in frame.columns if _nullable_integers(frame[c].dtype)})
    duplicated = frame[table.key][frame[table.key].duplicated()]
    if len(duplicated):
        raise LogsError(f"side table {name} ({table.path}): {len(duplicated)} duplicate keys in "
                        f"{table.key!r}, e.g. {duplicated.head(SAMPLE).tolist()}")
    return frame


def _check_types(config: LogsConfig, ddf):
    """Numbers must be numbers and timestamps parse; text where a number belongs is an error
    that names the column and shows the offending values."""
    numeric = [*config.continuous, *config.labels]
    meta = ddf._meta.copy()
    for column in numeric:  # text that parses becomes float64; other text is an error
        if config.format != "parquet" or not pd.api.types.is_numeric_dtype(meta[column]):
            meta[column] = meta[column].astype("float64")
    convert = _to_numbers if config.format != "parquet" else _require_numbers
    ddf = ddf.map_partitions(convert, numeric, meta=meta)
    if config.timestamp:
        meta = ddf._meta.copy()
        meta[config.timestamp] = pd.Series([], dtype="datetime64[ns]")
        ddf = ddf.map_partitions(_to_timestamp, config.timestamp, config.timestamp_unit,
                                 meta=meta)
    return ddf.map_partitions(_check_values, config, meta=ddf._meta)


def _check_values(part: pd.DataFrame, config: LogsConfig) -> pd.DataFrame:
    """Values no feature or label can be made of, named before they spoil a model: a null
    label or timestamp (unless filters.drop_null drops its rows), an infinite number, a
    multi-valued column holding text rather than lists."""
    drop = 'fill them, or drop their rows with "filters": {"drop_null": [...]}'
    for column in [*config.labels, *([config.timestamp] if config.timestamp else [])]:
        if column not in config.drop_null and part[column].isna().any():
            role = "label" if column in config.labels else "timestamp"
            raise LogsError(f"{role} column {column!r} is null in {int(part[column].isna().sum())} "
                            f"row(s) of one part of the logs: {drop}")
    for column in [*config.continuous, *config.labels]:
        values = part[column].to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(values).any():
            raise LogsError(f"column {column!r} holds {values[np.isinf(values)][0]} in "
                            f"{int(np.isinf(values).sum())} row(s) of one part of the logs: "
                            "write a missing value as null, not infinity")
    for column in config.multi_valued:
        present = part[column].dropna()
        if len(present) and isinstance(present.iloc[0], (str, bytes)):
            raise LogsError(f"column {column!r} is multi_valued but holds text "
                            f"({present.iloc[0]!r}), not lists: write it as a list column "
                            "(Parquet; CSV cannot carry lists)")
    return part


def _to_numbers(part: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        converted = pd.to_numeric(part[column], errors="coerce")
        _raise_on_text(part[column], converted, column)
        part[column] = converted.astype("float64")
    return part


def _require_numbers(part: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        if not pd.api.types.is_numeric_dtype(part[column]):
            converted = pd.to_numeric(part[column], errors="coerce")
            _raise_on_text(part[column], converted, column)
            part[column] = converted.astype("float64")
    return part


def _raise_on_text(raw: pd.Series, converted: pd.Series, column: str) -> None:
    bad = raw[converted.isna() & raw.notna() & (raw.astype(str).str.strip() != "")]
    if len(bad):
        raise LogsError(f"column {column!r} must hold numbers but holds text, e.g. "
                        f"{bad.astype(str).unique()[:SAMPLE].tolist()}")


def _to_timestamp(part: pd.DataFrame, column: str, unit: str = "s") -> pd.DataFrame:
    values = part[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            part[column] = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return part
    if not pd.api.types.is_numeric_dtype(values):
        parsed = pd.to_datetime(values, errors="coerce", utc=True)  # "20231114" is a date
        bad = values[parsed.isna() & values.notna()]
        if len(bad) == 0:
            part[column] = parsed.dt.tz_localize(None)
            return part
        if not _all_numbers_as_text(values):
            raise LogsError(f"column {column!r}: cannot parse "
                            f"{bad.astype(str).unique()[:SAMPLE].tolist()} as timestamps (ISO "
                            f"8601 text, numbers since the epoch in timestamp_unit "
                            f"{unit!r}, or a timestamp type)")
        values = pd.to_numeric(values)  # a CSV's numbers: as a Parquet number column
    largest = 0 if values.isna().all() else int(values.abs().max())
    try:  # since the epoch, in the config's unit, to whole microseconds (the staged files')
        stamps = pd.to_datetime(values, unit=unit).dt.round("us")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise LogsError(_unit_mistake(column, largest, unit, "is past the year 2262")) from None
    if largest >= 1e9 and _unit_of_size(largest) != unit and stamps.max() < EARLIEST_LOG:
        raise LogsError(_unit_mistake(column, largest, unit, f"is {stamps.max().date()}"))
    part[column] = stamps
    return part


EARLIEST_LOG = pd.Timestamp("1975-01-01")  # numbers this large read as earlier: a unit mistake


def _all_numbers_as_text(values: pd.Series) -> bool:
    present = values.dropna().astype(str).str.strip()
    return len(present) > 0 and bool(present.str.fullmatch(r"-?[0-9]+(\.[0-9]*)?").all())


def _unit_of_size(value: float) -> str:
    """The unit a time since the epoch of this size is in, for dates of 2001 to 2286."""
    digits = len(str(int(abs(value))))
    return "s" if digits <= 11 else "ms" if digits <= 14 else "us" if digits <= 17 else "ns"


def _unit_mistake(column: str, largest: int, unit: str, what: str) -> str:
    """The error for numbers since the epoch read in a unit that is not theirs (shops' logs
    often count milliseconds), with the unit their size suggests."""
    guess = _unit_of_size(largest)
    return (f"column {column!r}: {largest} {unit} since the epoch {what}; if the log counts "
            f"{guess}, set \"timestamp_unit\": \"{guess}\" in logs.json (units: s, ms, us, ns)")


def _attach_p_click(config: LogsConfig, ddf, rows: int):
    """Criteo logs carry the generator's true click probability in a .npy sidecar, one per
    of the `rows` log rows."""
    path = config.root / config.p_click
    sidecar_rows = np.load(path, mmap_mode="r", allow_pickle=False).shape[0]
    if sidecar_rows != rows:
        raise LogsError(f"{path}: {sidecar_rows} click probabilities for {rows} rows")

    def attach(part):
        p_click = np.load(path, mmap_mode="r", allow_pickle=False)  # opened where it runs
        return part.assign(**{P_CLICK: np.asarray(p_click[part[ROW].to_numpy()], np.float32)})

    return ddf.map_partitions(attach, meta=ddf._meta.assign(**{P_CLICK: np.array([], np.float32)}))


def list_column_types(config: LogsConfig, files: list[Path]) -> dict:
    """Arrow types of the multi-valued columns, for writing them back as lists (Dask's
    metadata only knows them as objects)."""
    if config.format != "parquet" and not config.side_tables:
        return {}
    import pyarrow.parquet as pq

    sources = ([files[0]] if config.format == "parquet" else []) + \
        [t.path for t in config.side_tables.values()]
    types = {}
    for source in sources:
        schema = pq.read_schema(source)
        types.update({c: schema.field(c).type for c in config.multi_valued if c in schema.names})
    return types
