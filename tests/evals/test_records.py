"""Strict JSON for summaries: undefined metrics are null, never the bare NaN token."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mereo.evals.records import json_safe, write_summary


def test_json_safe_replaces_non_finite_floats_at_any_depth():
    value = {"all": {"n": 3, "ap50": math.nan, "giou": 0.25}, "x": [math.inf, -math.inf, 1.0, "NaN"]}
    assert json_safe(value) == {"all": {"n": 3, "ap50": None, "giou": 0.25}, "x": [None, None, 1.0, "NaN"]}
    assert math.isnan(value["all"]["ap50"])  # the input is left as it was


def test_write_summary_is_strict_json(tmp_path: Path):
    path = write_summary(tmp_path, {"all": {"n": 2, "recall": math.nan}})
    text = path.read_text()
    assert "NaN" not in text

    def refuse(token: str) -> None:
        raise ValueError(token)

    assert json.loads(text, parse_constant=refuse) == {"all": {"n": 2, "recall": None}}
    with pytest.raises(ValueError):  # what the old writer produced is rejected by the same check
        json.loads(json.dumps({"recall": math.nan}), parse_constant=refuse)
