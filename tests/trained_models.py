"""Trained and exported models shared by the engine and serving tests (a pytest plugin of
tests/conftest.py, so one session trains them once): small generated logs, one
epoch of a DLRM and of a stacked DCN-v2 on fused tables, each exported for the engine; and
on demand, models of a user's own ratings log (tests/user_logs.py) in any of its shapes."""

from __future__ import annotations

import numpy as np
import pytest

QUIET = dict(progress=False, say=lambda *_: None)
SMALL = dict(embedding_dim=8, bottom_mlp=(16, 8), top_mlp=(32, 16))


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    pytest.importorskip("merlin.models")
    from shoprank.data import generate
    from shoprank.etl import run_etl

    root = tmp_path_factory.mktemp("engine")
    generate(root / "logs", users=300, items=200, rows=20_000, progress=False)
    run_etl(root / "logs" / "logs.json", root / "features", **QUIET)
    return root


@pytest.fixture(scope="session")
def realtime_world(tmp_path_factory):
    """Small generated logs with short-term behaviour and real-time features (generate
    --realtime): the ETL's output, one epoch of a DLRM and its artifacts. Returns the folder
    (logs/, features/, dlrm/, artifacts/)."""
    pytest.importorskip("merlin.models")
    from shoprank.data import generate
    from shoprank.etl import run_etl
    from shoprank.export.artifacts import export_ranker
    from shoprank.models.build import ModelSpec
    from shoprank.models.train import train

    root = tmp_path_factory.mktemp("realtime")
    generate(root / "logs", users=300, items=200, rows=20_000, realtime=True, progress=False)
    run_etl(root / "logs" / "logs.json", root / "features", **QUIET)
    train(root / "features", root / "dlrm", spec=ModelSpec(**SMALL), epochs=1, batch_size=1024,
          **QUIET)
    export_ranker(root / "dlrm", root / "artifacts")
    return root


@pytest.fixture(scope="session")
def pseudonymised_world(tmp_path_factory):
    """A log with personal ids (tests/personal_logs.py) through etl --key-file, one epoch of
    a DLRM, a two-tower retrieval model and their artifacts. Returns (folder, raw personal
    values); the folder holds key, other.key, logs/, features/, dlrm/, two-tower/,
    artifacts/."""
    pytest.importorskip("merlin.models")
    from shoprank.cli.main import main as cli
    from shoprank.etl import run_etl
    from shoprank.export.artifacts import export_ranker
    from shoprank.models.build import ModelSpec
    from shoprank.models.retrieval import train_retrieval
    from shoprank.models.train import train
    from tests.personal_logs import write_logs

    root = tmp_path_factory.mktemp("pseudonymised")
    values = write_logs(root / "logs")
    for key in ("key", "other.key"):
        assert cli(["keygen", str(root / key)]) == 0
    run_etl(root / "logs" / "logs.json", root / "features", key_file=root / "key", **QUIET)
    train(root / "features", root / "dlrm", spec=ModelSpec(**SMALL), epochs=1, batch_size=512,
          **QUIET)
    train_retrieval(root / "features", root / "two-tower", kind="two-tower", dim=8, epochs=1,
                    k=20, progress=False, say=lambda *_: None)
    export_ranker(root / "dlrm", root / "artifacts", retrieval=root / "two-tower")
    return root, values


def _export(world, name):
    import shoprank
    from shoprank.models.build import ModelSpec
    from shoprank.models.train import train
    from shoprank.export.artifacts import export_ranker
    from shoprank.models.merlin_ranker import MerlinRanker

    if not (world / f"{name}-artifacts").exists():
        spec = ModelSpec(architecture=name, **SMALL)
        train(world / "features", world / name, spec=spec, epochs=1, batch_size=1024, **QUIET)
        export_ranker(world / name, world / f"{name}-artifacts")
    return (shoprank.Ranker.load(world / f"{name}-artifacts"), MerlinRanker(world / name),
            world)


@pytest.fixture(scope="session", params=["dlrm", "dcn"])
def exported(request, world):
    """(Ranker, MerlinRanker, world folder) of each architecture."""
    return _export(world, request.param)


@pytest.fixture(scope="session")
def dlrm(world):
    return _export(world, "dlrm")


@pytest.fixture(scope="session")
def dcn(world):
    return _export(world, "dcn")


@pytest.fixture(scope="session")
def text_ids_world(tmp_path_factory):
    """The hand-made ratings log (tests/user_logs.py) with item ids "m0", "m1", ... and
    derived tables: a tiny DLRM and a tiny MF, one epoch each, exported together. Returns
    the root (raw/, features/, dlrm/, mf/, artifacts/) and the log's frame."""
    pytest.importorskip("merlin.models")
    from shoprank.etl import run_etl
    from shoprank.export.artifacts import export_ranker
    from shoprank.models.build import ModelSpec
    from shoprank.models.retrieval import train_retrieval
    from shoprank.models.train import train
    from tests import user_logs

    root = tmp_path_factory.mktemp("text-ids")
    frame = user_logs.ratings(4000, seed=3)
    frame["item_id"] = [f"m{i}" for i in frame["item_id"]]
    user_logs.write(root / "raw", user_logs.config(derived=True), frame=frame)
    run_etl(root / "raw" / "logs.json", root / "features", **QUIET)
    spec = ModelSpec(architecture="dlrm", tables="fused", embedding_dim=8, bottom_mlp=(16, 8),
                     top_mlp=(16, 8))
    train(root / "features", root / "dlrm", spec=spec, epochs=1, batch_size=512, **QUIET)
    train_retrieval(root / "features", root / "mf", kind="mf", dim=4, epochs=1, k=10, **QUIET)
    export_ranker(root / "dlrm", root / "artifacts", retrieval=root / "mf")
    return root, frame


@pytest.fixture(scope="session")
def user_logs_model(tmp_path_factory):
    """get(architecture, tables, lists=, continuous=, derived=, linear=) -> (model folder,
    artifact folder, raw logs folder): trained (one epoch; with a linear part when
    linear) and exported once per session."""
    pytest.importorskip("merlin.models")
    from shoprank.etl import run_etl
    from shoprank.models.build import ModelSpec
    from shoprank.models.train import train
    from shoprank.export.artifacts import export_ranker
    from tests import user_logs

    root = tmp_path_factory.mktemp("user-logs")

    def get(architecture, tables, linear=False, **variant):
        shape = "-".join(k for k, v in sorted(variant.items()) if v) or "plain"
        logs = root / f"logs-{shape}"
        name = root / f"{architecture}-{tables}-{shape}{'-linear' if linear else ''}"
        if not logs.exists():
            user_logs.write(logs / "raw", user_logs.config(**variant))
            run_etl(logs / "raw" / "logs.json", logs / "features", **QUIET)
        if not name.exists():
            spec = ModelSpec(architecture=architecture, tables=tables, embedding_dim=8,
                             bottom_mlp=(16, 8), top_mlp=(16, 8), linear=linear)
            train(logs / "features", name, spec=spec, epochs=1, batch_size=512, **QUIET)
            export_ranker(name, root / f"{name.name}-artifacts")
        return name, root / f"{name.name}-artifacts", logs / "raw"
    return get


@pytest.fixture(scope="session")
def two_tower(world):
    """(folder, record, the lines it said) of a two-tower retrieval model of the world's
    features: one epoch, dim 8, judged at k = 20."""
    from shoprank.models.retrieval import train_retrieval

    lines = []
    record = train_retrieval(world / "features", world / "two-tower", kind="two-tower", dim=8,
                             epochs=1, k=20, progress=False, say=lines.append)
    return world / "two-tower", record, lines


@pytest.fixture(scope="session")
def recommend_artifacts(world, two_tower):
    """The DLRM's artifact folder exported with the two-tower retrieval model: what
    shoprank.Recommender loads. Returns the folder."""
    from shoprank.export.artifacts import export_ranker

    _export(world, "dlrm")
    out = world / "recommend-artifacts"
    if not out.exists():
        export_ranker(world / "dlrm", out, retrieval=two_tower[0])
    return out


SHIFT = np.timedelta64(60, "D")  # served events come after every logged one


def served_events(world, folder, rows=3_000):
    """An event log holding the generated log's last ``rows`` impressions, 60 days later."""
    import pandas as pd

    from shoprank.events import EventLog

    log = EventLog.create(folder, world / "features")
    raw = pd.read_parquet(world / "logs" / "impressions").drop(columns=["_p_click"])
    raw = raw.tail(rows).sort_values("timestamp", kind="stable")
    raw = raw[[c for c in raw.columns if raw[c].notna().all()]]  # events carry no nulls
    columns = {c: raw[c].to_numpy() for c in raw.columns}
    stamps = (raw["timestamp"] + SHIFT).to_numpy().astype("datetime64[ms]")
    columns["timestamp"] = stamps.astype(np.int64)
    assert log.append(columns) == rows
    return folder



@pytest.fixture(scope="session")
def refreshed(world, dlrm, tmp_path_factory):
    """(event log, refresh record, the lines it said): the world's DLRM refreshed on 3,000
    served events (tests/feedback, tests/serving/test_reliability.py); margin 1, so it
    passes whatever the held-out AUCs."""
    from shoprank.feedback.refresh import refresh

    root = tmp_path_factory.mktemp("refreshed")
    events, lines = served_events(world, root / "events"), []
    record = refresh(world / "dlrm", events, root / "refresh", margin=1.0, progress=False,
                     say=lines.append)
    return events, record, lines
