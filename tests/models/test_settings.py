"""Training settings: a config file is checked before any training, and each setting's
source wins in order (defaults < data < config file < command line)."""

from __future__ import annotations

import json

import pytest

from shoprank.models.settings import DEFAULTS, read_config, resolve


def write(tmp_path, value) -> str:
    path = tmp_path / "config.json"
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


def test_config_values_are_read_and_checked(tmp_path):
    config = read_config(write(tmp_path, {"embedding_dim": 8, "learning_rate": 1,
                                          "top_mlp": [32, 16], "_valid_auc": 0.7}))
    assert config == {"embedding_dim": 8, "learning_rate": 1.0, "top_mlp": (32, 16)}


@pytest.mark.parametrize("value, words", [
    ('{"embeding_dim": 8}', "unknown setting(s) ['embeding_dim']"),
    ('{"embedding_dim": "8"}', "embedding_dim must be an integer"),
    ('{"epochs": true}', "epochs must be an integer"),
    ('{"model": "mlp"}', "model must be one of ('dlrm', 'dcn')"),
    ('{"top_mlp": [32, 0]}', "top_mlp must be a list of widths >= 1"),
    ('[1, 2]', "expected a JSON object"),
    ('{"epochs": 4', "not valid JSON"),
])
def test_a_bad_config_is_named(tmp_path, value, words):
    with pytest.raises(ValueError, match="--config .*config.json") as error:
        read_config(write(tmp_path, value))
    assert words in str(error.value)


def test_a_missing_config_is_named(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_config(tmp_path / "nowhere.json")


def test_later_sources_win_and_are_recorded():
    settings, sources = resolve(4_000_000, config={"embedding_dim": 8, "epochs": 3},
                                given={"epochs": 5})
    assert settings["embedding_dim"] == 8 and sources["embedding_dim"] == "config"
    assert settings["epochs"] == 5 and sources["epochs"] == "command line"
    assert settings["batch_size"] == DEFAULTS["batch_size"]
    assert settings["bottom_mlp"] == (64, 8)  # the DLRM bottom MLP ends at the width


def test_a_small_log_gets_smaller_batches_and_stops_after_one_worse_epoch():
    from shoprank.models.settings import from_data

    assert from_data(4_000_000) == {}  # the fixed defaults from about 3M train rows
    chosen = {rows: {k: v for k, (v, _) in from_data(rows).items()}
              for rows in (1_000, 160_000, 400_000, 1_000_000)}
    small = {"patience": 1, "linear": True}
    assert chosen == {1_000: {"batch_size": 32, **small},
                      160_000: {"batch_size": 64, **small},
                      400_000: {"batch_size": 256, **small},
                      1_000_000: {"batch_size": 512, **small}}
    settings, sources = resolve(160_000, given={"batch_size": 1024})
    assert settings["batch_size"] == 1024 and settings["patience"] == 1
    assert sources["patience"].startswith("data: ")
