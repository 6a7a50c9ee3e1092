"""The linear part (models/linear_part.py, linear_fit.py): a logistic regression fitted
first, frozen in the network, its logit the output layer's last input. Before training the
model is that logistic regression; training that does not beat it on valid leaves it so;
exported, the NumPy reference and the native engine compute what Keras computes, on the
generated log and on users' logs of other shapes (a list column, no numeric column)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("merlin.models")
pytest.importorskip("sklearn")

from tests.trained_models import QUIET, SMALL  # noqa: E402

SCORE_ATOL = 1e-5


def test_design_matrix_is_one_hot_multi_hot_and_continuous():
    from shoprank.models.linear_fit import design_matrix

    frame = pd.DataFrame({"a": [0, 2], "tags": [np.array([0, 1]), np.array([], np.int64)],
                          "x": [0.5, -1.0]})
    layout = {"rows": 5, "pooling": "mean", "continuous": ["x"],
              "features": [{"name": "a", "offset": 0, "list": False},
                           {"name": "tags", "offset": 3, "list": True}]}
    want = [[1, 0, 0, 0.5, 0.5, 0.5],   # a=0; tags (0, 1) pooled by mean; x
            [0, 0, 1, 0, 0, -1.0]]      # a=2; no tags: nothing
    np.testing.assert_allclose(design_matrix(frame, layout).toarray(), want)
    summed = design_matrix(frame, {**layout, "pooling": "sum"}).toarray()
    np.testing.assert_allclose(summed[0, 3:5], [1, 1])


def _features(world):
    from shoprank.models.data import load_processed

    return load_processed(world / "features")


def _linear_logits(data, fit, layout, split="valid"):
    from shoprank.models.linear_fit import design_matrix

    x = design_matrix(data.frame(split), layout)
    return x @ np.concatenate([fit.table, fit.kernel]) + fit.bias


@pytest.fixture(scope="module")
def linear_fit(world):
    from shoprank.models.linear_fit import fit_linear
    from shoprank.models.linear_part import LinearPart

    data = _features(world)
    layout = LinearPart(data.schema.excluding_by_name([data.label]), "mean").layout()
    lines = []
    return data, layout, fit_linear(data, layout, grid=(0.01, 0.1), say=lines.append), lines


def test_the_fit_picks_its_strength_on_valid(linear_fit):
    from shoprank.metrics import auc

    data, layout, fit, lines = linear_fit
    assert fit.c in (0.01, 0.1) and len(lines) == 2
    assert fit.table.shape == (layout["rows"],) and fit.kernel.shape == (len(layout["continuous"]),)
    y = data.column("valid", data.label)
    assert auc(y, _linear_logits(data, fit, layout)) == pytest.approx(fit.valid_auc, abs=1e-9)
    assert fit.valid_auc > 0.55  # the generated click depends on the features


@pytest.mark.parametrize("architecture", ["dlrm", "dcn"])
def test_before_training_the_model_is_the_linear_model(linear_fit, architecture):
    import merlin.models.tf as mm

    from shoprank.models.build import ModelSpec, build_model

    data, layout, fit, _ = linear_fit
    model = build_model(data.schema, data.label,
                        ModelSpec(architecture=architecture, linear=True, **SMALL), linear_fit=fit)
    predicted = model.predict(mm.Loader(data.dataset("valid"), batch_size=4096, shuffle=False),
                              verbose=0).reshape(-1)
    want = 1 / (1 + np.exp(-_linear_logits(data, fit, layout)))
    np.testing.assert_allclose(predicted, want, rtol=0, atol=1e-5)


def test_training_that_does_not_beat_the_linear_model_keeps_it(world, tmp_path):
    """A learning rate of 5 wrecks the network in its one epoch: the linear model stays."""
    from shoprank.export.forward import extract_forward_from_folder
    from shoprank.models.build import ModelSpec
    from shoprank.models.train import train

    lines = []
    result = train(world / "features", tmp_path / "run", spec=ModelSpec(linear=True, **SMALL),
                   epochs=1, batch_size=1024, learning_rate=5.0, schedule="constant",
                   patience=1, progress=False, say=lines.append)
    part = result["linear_part"]
    assert part["kept_alone"] and part["C"] in (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    assert any(line.startswith("before training: val_auc") for line in lines)
    assert max(result["history"]["val_auc"]) < part["valid_auc"] + 0.01
    # exported, the output layer still passes the linear logit through unchanged
    spec, tensors = extract_forward_from_folder(result["model_dir"])
    kernel = tensors[spec["output"]["kernel"]].reshape(-1)
    assert kernel[-1] == 1.0 and not kernel[:-1].any()
    assert not tensors[spec["output"]["bias"]].any()


LINEAR_SHAPES = [(True, False, "dlrm", "fused"), (True, True, "dcn", "per-feature")]


@pytest.mark.parametrize("lists,continuous,architecture,tables", LINEAR_SHAPES,
                         ids=[f"{'list' if lst else 'nolist'}-{'cont' if c else 'nocont'}-{a}-{t}"
                              for lst, c, a, t in LINEAR_SHAPES])
def test_users_logs_with_a_linear_part_match_the_python_path(user_logs_model, lists,
                                                             continuous, architecture, tables):
    import shoprank
    from shoprank.export.forward import extract_forward_from_folder
    from shoprank.models.folders import model_folder
    from shoprank.models.merlin_ranker import MerlinRanker
    from shoprank.reference.forward import numpy_forward
    from tests.ranker.test_user_logs import latest_rows

    model, artifacts, raw_dir = user_logs_model(architecture, tables, linear=True,
                                                lists=lists, continuous=continuous)
    ranker, reference = shoprank.Ranker.load(artifacts), MerlinRanker(model)
    rows = latest_rows(raw_dir, ranker.inputs)
    want = reference.score(rows)
    np.testing.assert_allclose(ranker.score(rows), want, rtol=0, atol=SCORE_ATOL)
    spec, tensors = extract_forward_from_folder(model_folder(model))
    assert spec["linear"]["continuous"] == (["year"] if continuous else [])
    features = reference.transform(rows)
    categorical = {f["name"]: list(features[f["name"]]) if f["list"]
                   else features[f["name"]].to_numpy() for f in spec["embeddings"]["features"]}
    values = {name: features[name].to_numpy() for name in spec["continuous"]}
    np.testing.assert_allclose(numpy_forward(spec, tensors, categorical, values), want,
                               rtol=0, atol=SCORE_ATOL)
