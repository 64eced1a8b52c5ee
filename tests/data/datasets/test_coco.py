"""COCO part annotations grouped by object."""

from __future__ import annotations

from mereo.data.datasets import load_coco_parts
from tests.data.datasets.realfiles import FIX


def test_coco_parts_groups_instances_by_object():
    images = load_coco_parts(FIX / "coco_parts_mini.json")
    assert [g.image_id for g in images] == [101, 202]
    first = images[0]
    assert first.objects() == ["stool"] and first.parts_of("stool") == ["leg", "seat"]
    legs = [p for p in first.parts if p.label == "leg"]
    assert len(legs) == 1 and legs[0].mask.area > 100
    assert images[1].parts_of("stool") == ["seat"]
