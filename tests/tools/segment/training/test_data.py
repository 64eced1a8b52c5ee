"""Segment training sets: the .npz cache round trip and the span targets."""

from __future__ import annotations

import numpy as np

from mereo.tools.segment.training.data import SegmentSet


def test_set_cache_round_trip(tiny_set, tmp_path) -> None:
    tiny_set.save(tmp_path / "s.npz")
    back = SegmentSet.load(tmp_path / "s.npz")
    assert back.spans == tiny_set.spans and back.texts == tiny_set.texts and back.visible == tiny_set.visible
    assert np.array_equal(back.target_masks([0]), tiny_set.target_masks([0]))
    assert np.array_equal(back.part_maps, tiny_set.part_maps)
    assert np.array_equal(back.object_maps, tiny_set.object_maps)
    masks = tiny_set.target_masks(range(len(tiny_set)))
    # every span's target is a part of its object, or empty for a part it lacks / hides
    for i, spans in enumerate(tiny_set.spans):
        for k, (_, _, label) in enumerate(spans):
            assert masks[i, k].any() == (label in tiny_set.visible[i])
