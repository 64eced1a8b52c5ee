"""MixedParts samples with an image folder or the source COCO JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mereo.data.datasets import load_mixedparts
from tests.data.datasets.realfiles import FIX, SEAT


def test_mixedparts_with_an_image_folder():
    items = load_mixedparts(FIX / "mixedparts_mini.json", FIX / "images")
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


def test_mixedparts_with_coco_json_names_objects_and_fills_images():
    items = load_mixedparts(FIX / "mixedparts_mini.json", FIX / "coco_parts_mini.json")
    common = items[0]
    assert {m.object for m in common.gold_masks} == {"stool"}
    assert common.gold_plan["expr"]["op"] == "intersect"
    assert common.images[0].objects() == ["stool"] and common.images[0].parts_of("stool") == ["leg", "seat"]
