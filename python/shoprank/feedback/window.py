"""The newest events as model features: the event log (shoprank.events) after a given
time, split by time into a train part and the latest held-out part, and transformed by the
*served* model's own transform: the native engine's (shoprank.Ranker.transform, proven equal
to the fitted NVTabular workflow by the parity tests), on the events as the server received
them. So the new model reads exactly what serving computes: the ids, statistics and
encodings of the served model (nothing is refitted; an item first seen in the events maps
to the unseen id until the next full `shoprank etl`), side tables looked up as served, and a
column an event batch left out is null, as it is when served. (NVTabular's Categorify fails
on a partition whose column is all null, which event batches that leave a column out make.)

The output folder is laid out as `shoprank etl` writes one: train/ and test/ with the
served ETL output's schema and column types, and its workflow/, inputs.json, tables/ and
summary.json (export reads them); plus window.json, what was read. The window is read into
memory (a refresh covers hours or days of events, not the whole history).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from shoprank._output import output_folder

MIN_ROWS = 100          # fewer new events than this train nothing worth a version
COPIED = ("workflow", "tables", "inputs.json", "summary.json")


def fitted_on(etl_dir) -> Path:
    """The ETL output whose fitted workflow ``etl_dir`` uses: itself, or for a window this
    module wrote, the one it was transformed by (followed through chained refreshes), or for
    a distillation's soft labels (models/distill.py), its teacher's."""
    from shoprank.models.data import SOFT_LABELS_FILE

    window, soft = Path(etl_dir) / "window.json", Path(etl_dir) / SOFT_LABELS_FILE
    if window.is_file():
        return Path(json.loads(window.read_text())["served_etl"])
    if soft.is_file():
        return fitted_on(json.loads(soft.read_text())["etl"])
    return Path(etl_dir).resolve()


def process_window(events_dir, ranker, etl_dir, out_dir, *, after=None,
                   holdout_fraction: float = 0.2, overwrite: bool = False, say=print) -> dict:
    """Writes ``out_dir``; returns window.json's content. ``ranker``: the served model's
    shoprank.Ranker; ``etl_dir``: its ETL output. ``after``: only events later than this
    time (text or pandas Timestamp), e.g. the end of the served model's own window."""
    import pandas as pd
    import pyarrow.parquet as pq

    from shoprank.etl.config import load_config
    from shoprank.events import EventLog

    if not 0 < holdout_fraction < 1:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {holdout_fraction}")
    events_dir, etl_dir = Path(events_dir), Path(etl_dir)
    if not (events_dir / "logs.json").is_file():
        raise ValueError(f"{events_dir}: no logs.json (expected the event log that "
                         "export-triton --events keeps)")
    config = load_config(events_dir / "logs.json")
    stamp = config.timestamp
    events = EventLog(events_dir).read()
    if ranker.realtime:
        events = with_realtime_columns(events, ranker.realtime, etl_dir)
    if after is not None:
        events = events[events[stamp] > pd.Timestamp(after)]
    if len(events) < MIN_ROWS:
        raise ValueError(f"{len(events)} events in {events_dir} after {after}: at least "
                         f"{MIN_ROWS} are needed to train and judge a new version")
    events = events.sort_values(stamp, kind="stable").reset_index(drop=True)
    # the latest fraction held out; events sharing a timestamp stay on one side
    cut = np.quantile(events[stamp].astype("int64"), 1 - holdout_fraction, method="lower")
    held_out = events[stamp].astype("int64") >= cut
    parts = {"train": events[~held_out], "test": events[held_out]}
    counts = {name: len(part) for name, part in parts.items()}
    if not all(counts.values()):
        raise ValueError(f"the new events split into {counts}: too few distinct timestamps "
                         "to hold the latest ones out")
    schema = pq.read_schema(sorted((etl_dir / "train").glob("*.parquet"))[0])  # the served
    with output_folder(out_dir, overwrite=overwrite) as tmp:
        for name, part in parts.items():
            table = features_table(ranker, part, schema, config)
            (tmp / name).mkdir()
            pq.write_table(table, tmp / name / "part_0.parquet")
            shutil.copy2(etl_dir / "train" / "schema.pbtxt", tmp / name / "schema.pbtxt")
        for item in COPIED:
            source = etl_dir / item
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp / item)
        window = {"events": str(events_dir.resolve()),
                  "after": None if after is None else str(pd.Timestamp(after)),
                  "rows": counts, "held_out_from": str(pd.Timestamp(int(cut))),
                  "end": str(events[stamp].max()), "served_etl": str(fitted_on(etl_dir))}
        (tmp / "window.json").write_text(json.dumps(window, indent=1) + "\n")
    say(f"new window: {counts['train']:,} train and {counts['test']:,} held-out events after "
        f"{window['after']}, up to {window['end']}")
    return window


def with_realtime_columns(events, spec: dict, etl_dir: Path):
    """The events with the real-time columns a served model reads (etl/realtime.py), as of
    each event over the whole event log: what the server's state holds after rebuilding it
    from the same log (the logs before the served model's ETL are not in it). The match
    columns' item values come from the served ETL's items table, as the engine reads them."""
    import pandas as pd

    from shoprank.etl.config import read_back
    from shoprank.etl.realtime import RealtimeConfig, realtime_columns

    match = tuple(spec.get("match", ()))
    values = {}
    if match:
        table = next(t for t in read_back(etl_dir).side_tables.values() if t.key == spec["item"])
        items = pd.read_parquet(table.path, columns=[spec["item"], *match])
        joined = events[[spec["item"]]].merge(items, on=spec["item"], how="left")
        values = {c: joined[c].to_numpy(dtype=object) for c in match}
    stamps = events[spec["timestamp"]].to_numpy().astype("datetime64[ms]").astype(np.int64)
    config = RealtimeConfig(spec["recent_clicks"], spec["window_ms"] / 60_000, match)
    columns = realtime_columns(events[spec["user"]].to_numpy(), events[spec["item"]].to_numpy(),
                               stamps, events[spec["label"]].to_numpy(np.float64, na_value=np.nan),
                               config, values)
    return events.assign(**columns)


def features_table(ranker, events, schema, config):
    """The engine's transform of the events as a table of ``schema``'s columns and types
    (the served train split's): features, and the labels the events carry."""
    import pyarrow as pa

    raw = {c: events[c] for c in ranker.inputs if c in events.columns}
    features = ranker.transform(raw)
    labels = {config.label, *config.other_labels}
    columns = {}
    for field in schema:
        if field.name in features:
            value = features[field.name]
            if isinstance(value, tuple):  # a list feature: (ids, offsets)
                ids, offsets = value
                array = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                                 pa.array(ids))
            else:
                array = pa.array(value)
            columns[field.name] = array.cast(field.type)
        elif field.name in labels and field.name in events.columns:
            columns[field.name] = pa.array(events[field.name].to_numpy()).cast(field.type)
    if config.label not in columns:
        raise ValueError(f"the events carry no {config.label!r} label to train on")
    return pa.table(columns)
