"""Mask geometry of the nodes."""

from __future__ import annotations

import numpy as np

from mereo.agent.masks import box_mask, dedupe, inside, object_region
from mereo.types import Mask, PartMask


def test_box_mask_is_clipped_to_the_image() -> None:
    m = box_mask((2.0, 1.0, 3.5, 10.0), h=6, w=8).to_numpy()
    assert m.shape == (6, 8) and m.sum() == 4 * 5 and m[1:6, 2:6].all()


def test_inside_and_object_region() -> None:
    part = np.zeros((4, 4), bool)
    part[0, :] = True  # 4 pixels
    region = np.zeros((4, 4), bool)
    region[:, :2] = True
    assert inside(Mask.from_numpy(part), Mask.from_numpy(region)) == 0.5
    assert inside(Mask.from_numpy(np.zeros((4, 4), bool)), Mask.from_numpy(region)) == 1.0
    assert inside(Mask.from_numpy(part), Mask.from_numpy(np.ones((5, 5), bool))) == 1.0
    a = PartMask(label="chair", image_index=0, mask=Mask.from_numpy(part), kind="object")
    b = PartMask(label="chair", image_index=0, mask=Mask.from_numpy(region), kind="object")
    union = object_region([a, b], "chair", 0)
    assert union is not None and union.area == 4 + 8 - 2
    assert object_region([a, b], "chair", 1) is None and object_region([a], "stool", 0) is None


def test_dedupe_keeps_the_first_of_equal_masks() -> None:
    m = Mask.from_numpy(np.eye(4, dtype=bool))
    a = PartMask(label="leg", object="chair", mask=m, score=0.9)
    b = PartMask(label="leg", object="chair", mask=m, score=0.2)
    c = PartMask(label="leg", object="stool", mask=m)
    assert dedupe([a, b, c]) == [a, c]
