"""Statistics released with differential-privacy noise (etl/privacy.py): the noise is
Laplace at the stated scale, values below min_count read as unseen, nothing exact is
kept in the workflow, and the engine computes from the artifacts what NVTabular computes
from the noisy workflow (so served and trained features agree)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shoprank.etl.privacy import PrivacyConfig

QUIET = dict(progress=False, say=lambda *_: None)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Small generated logs through the ETL twice: exact, and with epsilon 1, min_count 3."""
    pytest.importorskip("nvtabular")
    from shoprank.data import generate
    from shoprank.etl import run_etl

    root = tmp_path_factory.mktemp("privacy")
    generate(root / "logs", users=300, items=200, rows=20_000, progress=False)
    config = json.loads((root / "logs" / "logs.json").read_text())
    (root / "logs" / "noisy.json").write_text(json.dumps(
        {**config, "privacy": {"epsilon": 1.0, "min_count": 3, "seed": 5}}))
    exact = run_etl(root / "logs" / "logs.json", root / "exact", **QUIET)
    noisy = run_etl(root / "logs" / "noisy.json", root / "noisy", **QUIET)
    return root, exact, noisy


def _workflow_ops(folder):
    import nvtabular as nvt
    from merlin.dag.node import iter_nodes
    from nvtabular.ops import TargetEncoding

    from shoprank.etl.ops.value_counts import ValueCounts

    workflow = nvt.Workflow.load(str(folder / "workflow"))
    ops = [n.op for n in iter_nodes([workflow.output_node])]
    return ([op for op in ops if isinstance(op, ValueCounts)],
            [op for op in ops if isinstance(op, TargetEncoding)])


def test_the_release_is_noisy_and_drops_rare_values(released):
    root, exact, noisy = released
    report = noisy["privacy"]
    # 2 count statistics and 3 click-through rates share epsilon 1
    assert {name.split()[0] for name in report} == {"count", "ctr"} and len(report) == 5
    assert all(r["scale"] == pytest.approx(5.0 if n.startswith("count") else 10.0)
               for n, r in report.items())
    (exact_counts,), (exact_rates,) = _workflow_ops(root / "exact")
    (noisy_counts,), (noisy_rates,) = _workflow_ops(root / "noisy")
    for name, counts in exact_counts.counts.items():
        released_counts = noisy_counts.counts[name]
        assert (released_counts >= 3).all()
        common = counts.index.intersection(released_counts.index)
        noise = released_counts[common].astype(float) - counts[common]
        assert noise.abs().mean() > 1 and noise.abs().mean() < 20  # Laplace(5): mean |x| 5
        assert set(counts.index[counts < 1]) & set(released_counts.index) == set()
    for name in exact_rates.stats:
        before = pd.read_parquet(exact_rates.stats[name])
        after = pd.read_parquet(noisy_rates.stats[name])
        assert len(after) <= len(before) and not before.equals(after)
        assert (after.iloc[:, 2] <= after.iloc[:, 1]).all()  # clicks within impressions


def test_exact_release_changes_nothing(tmp_path, released):
    from shoprank.etl import run_etl

    root, exact, _ = released
    config = json.loads((root / "logs" / "logs.json").read_text())
    # exact figures, every value seen at least once kept: the release path, changing nothing
    (root / "logs" / "exact.json").write_text(json.dumps({**config, "privacy": {"min_count": 1}}))
    again = run_etl(root / "logs" / "exact.json", tmp_path / "out", **QUIET)
    assert all(r["dropped"] == 0 and r["scale"] == 0 for r in again["privacy"].values())
    first = pd.read_parquet(next((root / "exact" / "test").glob("*.parquet")))
    second = pd.read_parquet(next((tmp_path / "out" / "test").glob("*.parquet")))
    pd.testing.assert_frame_equal(first, second)


def test_the_engine_reads_the_noisy_statistics(released, tmp_path):
    """The exported transform gives the ETL's own (noisy) test features."""
    pytest.importorskip("merlin.models")
    import shoprank
    from shoprank.export.artifacts import export_ranker
    from shoprank.models.build import ModelSpec
    from shoprank.models.train import train

    root, _, _ = released
    train(root / "noisy", tmp_path / "dlrm", spec=ModelSpec(embedding_dim=8, bottom_mlp=(8,),
                                                             top_mlp=(8,)),
          epochs=1, batch_size=2048, **QUIET)
    export_ranker(tmp_path / "dlrm", tmp_path / "artifacts")
    ranker = shoprank.Ranker.load(tmp_path / "artifacts")
    raw = pd.read_parquet(root / "logs" / "impressions").sort_values("timestamp", kind="stable")
    etl = pd.concat([pd.read_parquet(f) for f in sorted((root / "noisy" / "test")
                                                          .glob("*.parquet"))])
    rows = raw.tail(len(etl))
    got = ranker.transform({c: rows[c].to_numpy() for c in ranker.inputs if c in rows})
    for name in ("user_id_count", "item_id_count", "TE_item_id_click", "TE_brand_click"):
        np.testing.assert_allclose(got[name], etl[name].to_numpy(), rtol=0, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("raw,message", [
    ({"epsilon": 0}, "privacy.epsilon: expected a number > 0"),
    ({"min_count": -1}, "privacy.min_count: expected a number >= 0"),
    ({"delta": 1e-5}, r"privacy: unknown keys \['delta'\]"),
    ("1", "privacy: expected an object"),
])
def test_bad_settings_are_named(raw, message):
    with pytest.raises(ValueError, match=message):
        PrivacyConfig.from_dict(raw)
