"""Loaders on hand-written files in the real Partonomy-Core, MixedParts and COCO-parts formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mereo.data.datasets import load_coco_parts, load_items, load_mixedparts, load_partonomy
from mereo.errors import DatasetError
from mereo.types import ImageRef

SEAT = np.zeros((30, 40), dtype=bool)
SEAT[5:13, 10:31] = True


def test_partonomy_core_records_with_rle_and_polygons(real_format):
    items = load_partonomy(real_format / "partonomy_core_mini.json")
    assert [it.question_type for it in items] == ["identification", "intersection", "difference"]
    ident, pos, neg = items
    assert ident.gold_labels == ["leg", "seat"]  # plural "legs" is normalised
    assert ident.answer_types.count("correct") == 1 and len(ident.answer_choices) == 5
    masks = {m.label: m for m in ident.gold_masks}
    assert np.array_equal(masks["seat"].mask.to_numpy(), SEAT)  # uncompressed RLE decoded exactly
    legs = masks["leg"].mask.to_numpy()
    assert legs[20, 11] and legs[20, 29] and not legs[20, 20]  # two polygons unioned
    assert ident.images[0].width == 40 and ident.images[0].height == 30
    assert ImageRef(ident.images[0].path).width == 40  # the path resolves against the file's folder
    assert ident.gold_plan == {"expr": {"op": "parts", "object": "stool", "image": 0}, "returns": "parts"}
    assert pos.other_object == "chair"
    assert pos.gold_plan["expr"]["op"] == "intersect"
    assert pos.gold_plan["expr"]["args"][1] == {"op": "kb_parts", "object": "chair"}
    # no answer_parts in this record: the gold parts come from the correct sentence
    assert neg.gold_labels == ["seat"] and neg.other_object == "table"
    assert neg.gold_plan["expr"]["op"] == "difference"
    assert [m.label for m in neg.gold_masks] == ["seat"]


def test_mixedparts_with_an_image_folder(real_format):
    items = load_mixedparts(real_format / "mixedparts_mini.json", real_format / "images")
    assert [it.question_type for it in items] == ["common_parts", "common_objects", "unique_parts"]
    common, objects, unique = items
    assert common.gold_labels == ["seat"] and sorted(m.image_index for m in common.gold_masks) == [0, 1]
    seat0 = next(m for m in common.gold_masks if m.image_index == 0).mask.to_numpy()
    seat1 = next(m for m in common.gold_masks if m.image_index == 1).mask.to_numpy()
    assert np.array_equal(seat0, SEAT)
    assert (seat0 & seat1).sum() / (seat0 | seat1).sum() > 0.8  # RLE and polygon describe the same seat
    assert objects.gold_labels == ["stool"] and all(m.kind == "object" for m in objects.gold_masks)
    assert objects.gold_plan["expr"] == {"op": "common_objects", "images": [0, 1]}
    assert unique.gold_labels == ["leg"] and len(unique.gold_masks) == 1  # two leg instances unioned
    assert Path(common.images[1].path).name == "000000000202.png"


def test_mixedparts_with_coco_json_names_objects_and_fills_images(real_format):
    items = load_mixedparts(real_format / "mixedparts_mini.json", real_format / "coco_parts_mini.json")
    common = items[0]
    assert {m.object for m in common.gold_masks} == {"stool"}
    assert common.gold_plan["expr"]["op"] == "intersect"
    assert common.images[0].objects() == ["stool"] and common.images[0].parts_of("stool") == ["leg", "seat"]


def test_coco_parts_groups_instances_by_object(real_format):
    images = load_coco_parts(real_format / "coco_parts_mini.json")
    assert [g.image_id for g in images] == [101, 202]
    first = images[0]
    assert first.objects() == ["stool"] and first.parts_of("stool") == ["leg", "seat"]
    legs = [p for p in first.parts if p.label == "leg"]
    assert len(legs) == 1 and legs[0].mask.area > 100
    assert images[1].parts_of("stool") == ["seat"]


def test_bad_files_raise_dataset_errors(tmp_path, real_format):
    with pytest.raises(DatasetError, match="not found"):
        load_partonomy(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_partonomy(bad)
    rec = json.loads((real_format / "partonomy_core_mini.json").read_text())[0]
    rec["question_type"] = "counting"
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps([rec]))
    with pytest.raises(DatasetError, match="unknown question_type"):
        load_partonomy(odd, images_root=real_format)
    with pytest.raises(DatasetError, match="COCO"):
        load_coco_parts(real_format / "partonomy_core_mini.json")
    with pytest.raises(DatasetError, match="no image file"):
        load_mixedparts(real_format / "mixedparts_mini.json", tmp_path)
    with pytest.raises(DatasetError, match="not a QAItem"):
        (tmp_path / "x.jsonl").write_text('{"id": 1}\n')
        load_items(tmp_path / "x.jsonl")


def test_records_keyed_by_id_are_accepted(tmp_path, real_format):
    recs = json.loads((real_format / "partonomy_core_mini.json").read_text())
    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({f"q{i}": r for i, r in enumerate(recs)}))
    items = load_partonomy(keyed, images_root=real_format)
    assert [it.id for it in items] == ["q0", "q1", "q2"]
    assert items[0].gold_labels == ["leg", "seat"]
