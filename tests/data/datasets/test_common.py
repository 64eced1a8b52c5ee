"""What every loader shares: missing and malformed files are DatasetErrors; records keyed by id."""

from __future__ import annotations

import json

import pytest

from mereo.data.datasets import load_coco_parts, load_items, load_mixedparts, load_partonomy
from mereo.errors import DatasetError
from tests.data.datasets.realfiles import FIX


def test_records_keyed_by_id_are_accepted(tmp_path):
    recs = json.loads((FIX / "partonomy_core_mini.json").read_text())
    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({f"q{i}": r for i, r in enumerate(recs)}))
    items = load_partonomy(keyed, images_root=FIX)
    assert [it.id for it in items] == ["q0", "q1", "q2"]
    assert items[0].gold_labels == ["leg", "seat"]


def test_bad_files_raise_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_partonomy(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_partonomy(bad)
    rec = json.loads((FIX / "partonomy_core_mini.json").read_text())[0]
    rec["question_type"] = "counting"
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps([rec]))
    with pytest.raises(DatasetError, match="unknown question_type"):
        load_partonomy(odd, images_root=FIX)
    with pytest.raises(DatasetError, match="COCO"):
        load_coco_parts(FIX / "partonomy_core_mini.json")
    with pytest.raises(DatasetError, match="no image file"):
        load_mixedparts(FIX / "mixedparts_mini.json", tmp_path)
    with pytest.raises(DatasetError, match="not a QAItem"):
        (tmp_path / "x.jsonl").write_text('{"id": 1}\n')
        load_items(tmp_path / "x.jsonl")
