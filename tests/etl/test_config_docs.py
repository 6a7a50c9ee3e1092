"""README.md's "Your own logs" section is the logs.json documentation: its example runs
through the ETL on a log of that shape (already joined, already split into files, a genre
list, no numeric column), and its table names every key the code knows with the code's
defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from shoprank.etl.config import _KNOWN_KEYS, from_dict
from tests import user_logs

README = Path(__file__).parents[2] / "README.md"


def section() -> str:
    text = README.read_text()
    start = text.index("## Your own logs")
    return text[start:text.index("\n## ", start + 1)]


def example() -> dict:
    return json.loads(re.search(r"```json\n(.*?)```", section(), re.S).group(1))


def documented_defaults() -> dict[str, str]:
    rows = re.findall(r"^\| `(\w+)` \| (.*?) \|", section(), re.M)
    return dict(rows)


def test_the_table_documents_every_key_with_the_code_default(tmp_path):
    documented = documented_defaults()
    assert set(documented) == _KNOWN_KEYS
    config = from_dict({"impressions": "x", "label": "y"}, tmp_path)
    actual = {
        "format": config.format, "timestamp": config.timestamp,
        "timestamp_unit": config.timestamp_unit,
        "other_labels": list(config.other_labels), "user_id": config.user_id,
        "item_id": config.item_id, "side_tables": config.side_tables,
        "user_columns": list(config.user_columns), "item_columns": list(config.item_columns),
        "categorical": list(config.categorical), "hashed": config.hashed,
        "multi_valued": list(config.multi_valued), "continuous": list(config.continuous),
        "crosses": list(config.crosses), "time_features": list(config.time_features),
        "statistics": {}, "passthrough": list(config.passthrough), "filters": {},
        "split": {"valid": config.valid_fraction, "test": config.test_fraction},
        "freq_threshold": config.freq_threshold, "p_click": config.p_click,
        "realtime": config.realtime, "privacy": config.privacy,
    }
    assert not config.count_statistics and not config.ctr_statistics and not config.drop_null
    for key, text in documented.items():
        if text == "required":
            with pytest.raises(ValueError, match=key):
                from_dict({k: "x" for k in ("impressions", "label") if k != key}, tmp_path)
        else:
            assert json.loads(text.strip("`")) == actual[key], key


@pytest.mark.slow
def test_the_example_runs_on_logs_of_its_shape(tmp_path):
    from shoprank.etl import run_etl

    frame = user_logs.ratings()
    ends = {"train": 0.7, "valid": 0.85, "test": 1.0}
    start = 0
    for name, end in ends.items():  # already split, with timestamps tied across a boundary
        stop = int(len(frame) * end)
        user_logs.write(tmp_path, {"impressions": f"{name}/*.parquet", "label": "liked"},
                        frame=frame.iloc[start:stop], files=1)
        (tmp_path / "ratings").rename(tmp_path / name)
        start = stop
    (tmp_path / "logs.json").write_text(json.dumps(example()))
    summary = run_etl(tmp_path / "logs.json", tmp_path / "out", progress=False,
                      say=lambda *_: None)
    rows = {name: summary["splits"][name]["rows_out"] for name in ends}
    assert rows == {"train": 2800, "valid": 600, "test": 600}
    assert summary["derived_tables"] == {"users": user_logs.USERS, "items": user_logs.ITEMS}
    items = pd.read_parquet(tmp_path / "out" / "tables" / "items.parquet")
    assert list(items.columns) == ["item_id", "genres"]
    assert items["genres"].map(len).min() >= 1
