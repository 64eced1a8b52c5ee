"""Partonomy-Core records (RLE and polygons, plans, keyed records, bad files)."""

from __future__ import annotations

import numpy as np

from mereo.data.datasets import load_partonomy
from mereo.types import ImageRef
from tests.data.datasets.realfiles import FIX, SEAT


def test_partonomy_core_records_with_rle_and_polygons():
    items = load_partonomy(FIX / "partonomy_core_mini.json")
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
