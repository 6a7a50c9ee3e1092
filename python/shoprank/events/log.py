"""The event log (issue 20): impressions, clicks and purchases a running deployment is told
about, appended durably in the raw-log layout ``shoprank etl`` reads.

    EVENTS/logs.json                 the logs config of the ETL output the model came from,
                                     reading impressions/*.parquet and the tables here
    EVENTS/tables/*.parquet          that ETL output's side tables (users, items), copied
    EVENTS/impressions/events-*.parquet   one segment per accepted batch of events

A batch is acknowledged only once its segment is on disk: written under a temporary name
(``*.parquet.partial``, which the ETL's glob does not match), fsync'ed, renamed, and the
folder fsync'ed. A crash leaves at most a partial file, removed when the log is opened
again (only a dead process's: the writer's pid is in the name); an acknowledged event is
never lost. One process writes a log at a time (the events model has one instance): the
order and lateness rules are kept in that process. Every segment has the same Parquet
schema (the logs' dtypes, nullable), so a column one batch leaves out reads back typed.

Rules for a batch (errors name the column and the rule): the schema's columns only (the
logs' own columns, not the side tables' nor passthrough), the timestamp, user id, item id
and label present; labels 0 or 1; timestamps in order within the batch and not older than
the newest event already logged by more than ``max_lateness_s``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SEGMENTS = "impressions"
PARTIAL = ".partial"
MS = 1000


@dataclass(frozen=True)
class EventSchema:
    columns: dict[str, str]         # name -> raw type (int64, float64, string, timestamp_ms, ...)
    dtypes: dict[str, str]          # name -> the pandas dtype the logs had
    timestamp: str
    user_id: str
    item_id: str
    labels: list[str]               # the first is the training label
    required: list[str] = field(default_factory=list)

    @classmethod
    def of_inputs(cls, saved: dict) -> "EventSchema":
        """The impressions' columns of an ETL output (its inputs.json's content): every raw
        column not from a side table, passthrough columns (the generator's oracle) and the
        real-time columns (the ETL computes them from the events) left out."""
        config = saved["config"]
        skip = set(config.get("passthrough") or []) | set(_realtime_columns(config))
        own = {name: c for name, c in saved["columns"].items()
               if c["table"] is None and name not in skip}
        labels = [config["label"], *(config.get("other_labels") or [])]
        for label in labels:  # a label the logs had is an int column
            own.setdefault(label, {"type": "int64", "dtype": "int8"})
        required = [config["timestamp"], config["user_id"], config["item_id"], config["label"]]
        return cls(columns={n: c["type"] for n, c in own.items()},
                   dtypes={n: c["dtype"] for n, c in own.items()},
                   timestamp=config["timestamp"], user_id=config["user_id"],
                   item_id=config["item_id"], labels=labels, required=required)

    def to_json(self) -> dict:
        return self.__dict__.copy()


class EventLog:
    """Appends batches of events to EVENTS/impressions as durable Parquet segments."""

    def __init__(self, folder, *, max_lateness_s: float = 3600.0):
        self.folder = Path(folder)
        meta = self.folder / "events.json"
        if not meta.is_file():
            raise FileNotFoundError(f"{self.folder}: not an event log (shoprank export-triton "
                                    "--events creates one)")
        self.schema = EventSchema(**json.loads(meta.read_text())["schema"])
        self.max_lateness_ms = int(max_lateness_s * MS)
        self._lock = threading.Lock()
        self._sequence = 0
        for partial in (self.folder / SEGMENTS).glob(f"*{PARTIAL}"):  # never acknowledged
            if not _alive(_writer(partial.name)):
                partial.unlink()
        self.newest_ms = self._newest_logged()

    @classmethod
    def create(cls, folder, etl_dir) -> "EventLog":
        """A new event log for the impressions of the ETL output at etl_dir (or the one
        already there, when it was made for the same columns)."""
        from shoprank.etl.config import read_back

        folder, saved = Path(folder), json.loads((Path(etl_dir) / "inputs.json").read_text())
        schema, meta = EventSchema.of_inputs(saved), folder / "events.json"
        if meta.is_file():
            existing = json.loads(meta.read_text())["schema"]
            computed = _realtime_columns(saved["config"])
            for key in ("columns", "dtypes"):  # listed by logs made before they were left out
                existing[key] = {n: v for n, v in existing[key].items() if n not in computed}
            if existing != schema.to_json():
                raise ValueError(f"{folder} is an event log of other columns "
                                 f"({sorted(existing['columns'])}); choose another folder")
            config = json.loads((folder / "logs.json").read_text())
            if _mark_pseudonymised(config, saved):  # a log made before the marks
                _write_durably(folder / "logs.json", json.dumps(config, indent=1) + "\n")
            return cls(folder)
        (folder / SEGMENTS).mkdir(parents=True, exist_ok=True)
        (folder / "tables").mkdir(exist_ok=True)
        config = dict(saved["config"], impressions=f"{SEGMENTS}/*.parquet", format="parquet")
        config.pop("passthrough", None)
        config["side_tables"] = {}
        for name, table in read_back(etl_dir).side_tables.items():
            shutil.copy2(table.path, folder / "tables" / Path(table.path).name)
            config["side_tables"][name] = {"path": f"tables/{Path(table.path).name}",
                                           "key": table.key}
        config.pop("user_columns", None)  # the derived tables are plain tables here
        config.pop("item_columns", None)
        _mark_pseudonymised(config, saved)
        _write_durably(folder / "logs.json", json.dumps(config, indent=1) + "\n")
        _write_durably(meta, json.dumps({"format": "shoprank-events", "version": 1,  # last
                                         "etl": str(Path(etl_dir).resolve()),
                                         "schema": schema.to_json()}, indent=1) + "\n")
        _fsync_folder(folder.parent)
        return cls(folder)

    def append(self, columns: dict[str, np.ndarray]) -> int:
        """Checks a batch ({column: values}, equal lengths) and writes it as one durable
        segment; returns the events written. Raises ValueError naming what was wrong."""
        outcome = self.append_many([columns])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def append_many(self, batches: list[dict]) -> list:
        """Several batches (a server's requests of one moment) written as one segment, one
        fsync for all (group commit): per batch the events written, or the ValueError that
        refused it (the others are written all the same)."""
        import pandas as pd

        outcomes, frames = [], []
        with self._lock:
            newest = self.newest_ms  # over what is logged and what this group accepted
            for columns in batches:
                try:
                    frame = self.check(columns)
                    stamps = frame[self.schema.timestamp]
                    if len(frame) and newest is not None and \
                            int(stamps.min()) < newest - self.max_lateness_ms:
                        raise ValueError(
                            f"{self.schema.timestamp}: an event at {_iso(int(stamps.min()))} is "
                            f"older than the newest logged ({_iso(newest)}) by more than "
                            f"{self.max_lateness_ms // MS} s (late events are refused)")
                except (ValueError, TypeError) as error:
                    outcomes.append(error)
                    continue
                outcomes.append(len(frame))
                frames.append(frame)
                if len(frame):
                    newest = max(int(stamps.max()), newest if newest is not None else -2**63)
            frames = [f for f in frames if len(f)]
            if frames:
                frame = pd.concat(frames, ignore_index=True)
                frame = frame.sort_values(self.schema.timestamp, kind="stable")
                newest = int(frame[self.schema.timestamp].iloc[-1])
                frame[self.schema.timestamp] = pd.to_datetime(frame[self.schema.timestamp],
                                                              unit="ms")
                self._write(frame)
                self.newest_ms = newest if self.newest_ms is None else max(self.newest_ms,
                                                                           newest)
        return outcomes

    def check(self, columns: dict[str, np.ndarray]):
        """The batch as a frame in the logs' dtypes (timestamps still in ms); ValueError
        naming the first column or rule at fault."""
        import pandas as pd

        schema = self.schema
        unknown = sorted(set(columns) - set(schema.columns))
        if unknown:
            raise ValueError(f"unknown event column(s) {unknown} (an event has: "
                             f"{', '.join(schema.columns)})")
        missing = [c for c in schema.required if c not in columns]
        if missing:
            raise ValueError(f"events need {missing} (required: {', '.join(schema.required)})")
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"event columns of different lengths: {lengths}")
        frame = pd.DataFrame({name: columns.get(name) for name in schema.columns
                              if name in columns})
        for label in schema.labels:
            if label not in frame:
                frame[label] = 0
            values = frame[label].to_numpy()
            if not np.isin(values, (0, 1)).all():
                raise ValueError(f"{label}: a label is 0 or 1, got {values[~np.isin(values, (0, 1))][0]}")
        stamps = frame[schema.timestamp].to_numpy(np.int64)
        if len(stamps) > 1 and (np.diff(stamps) < 0).any():
            at = int(np.argmax(np.diff(stamps) < 0)) + 1
            raise ValueError(f"{schema.timestamp}: events out of order (event {at} at "
                             f"{_iso(stamps[at])} comes after one at {_iso(stamps[at - 1])}); "
                             "send a batch in time order")
        for name in schema.columns:
            if name not in frame:
                frame[name] = None
        frame = frame[list(schema.columns)]
        for name, dtype in schema.dtypes.items():
            if name != schema.timestamp and not dtype.startswith("datetime"):
                if frame[name].isna().any() and dtype.startswith("int"):
                    continue  # an absent optional int column stays null (float/object)
                frame[name] = frame[name].astype(dtype) if dtype != "object" else frame[name]
        return frame

    def _write(self, frame) -> Path:
        self._sequence += 1
        name = f"events-{time.time_ns():020d}-{os.getpid()}-{self._sequence:06d}.parquet"
        final = self.folder / SEGMENTS / name
        partial = final.with_name(name + PARTIAL)
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, schema=self._arrow_schema(), preserve_index=False)
        with open(partial, "wb") as file:
            pq.write_table(table, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, final)
        _fsync_folder(final.parent)
        return final

    def _arrow_schema(self):
        """One Parquet schema for every segment: the logs' dtypes, every column nullable."""
        import pyarrow as pa

        def arrow(name, dtype):
            if dtype.startswith("datetime"):
                return pa.timestamp("ns")
            if self.schema.columns[name] == "string_list":
                return pa.list_(pa.string())
            return pa.string() if dtype == "object" else pa.from_numpy_dtype(np.dtype(dtype))

        return pa.schema([(name, arrow(name, dtype)) for name, dtype in self.schema.dtypes.items()])

    def _newest_logged(self) -> int | None:
        import pyarrow.parquet as pq

        newest = None
        for segment in (self.folder / SEGMENTS).glob("*.parquet"):
            stamps = pq.read_table(segment, columns=[self.schema.timestamp]).column(0)
            if len(stamps):
                value = int(np.asarray(stamps.cast("timestamp[ms]").cast("int64")).max())
                newest = value if newest is None else max(newest, value)
        return newest

    def read(self):
        """Every logged event, in segment order (a pandas DataFrame)."""
        import pandas as pd

        segments = sorted((self.folder / SEGMENTS).glob("*.parquet"))
        if not segments:
            return pd.DataFrame(columns=list(self.schema.columns))
        return pd.concat([pd.read_parquet(s) for s in segments], ignore_index=True)


def _iso(ms: int) -> str:
    return str(np.datetime64(int(ms), "ms"))


def _writer(name: str) -> int | None:
    """The pid in a segment's name (events-<ns>-<pid>-<n>.parquet...), None if none."""
    parts = name.split("-")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_durably(path: Path, text: str) -> None:
    """The file complete or absent: a temporary name, fsync, rename, the folder fsync'ed."""
    partial = path.with_name(path.name + PARTIAL)
    with open(partial, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _realtime_columns(config: dict) -> tuple[str, ...]:
    """The columns the ETL computes from the events (a logs config's "realtime")."""
    from shoprank.etl.realtime import RealtimeConfig

    return RealtimeConfig.from_dict(config["realtime"]).columns if config.get("realtime") else ()


def _mark_pseudonymised(config: dict, saved: dict) -> bool:
    """Marks the log's copied tables in its logs config with the key's check where they hold
    the ETL output's pseudonyms (its inputs.json's content: saved), as the events hold raw
    ids: an ETL of this log hashes the events and reads the tables as they are. Returns
    whether it changed the config."""
    pseudonymised = saved.get("pseudonymised")
    tables = config["side_tables"].values()
    if not pseudonymised or all("pseudonymised" in t for t in tables):
        return False
    for table in tables:
        table["pseudonymised"] = pseudonymised["key_check"]
    return True
