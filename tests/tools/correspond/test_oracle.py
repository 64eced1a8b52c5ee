"""The correspondence family's ``oracle`` backend."""

from __future__ import annotations

import numpy as np

from mereo.cache import FeatureCache
from mereo.tools import correspond
from mereo.tools.base import Corresponder, ToolContext
from mereo.types import ImageRef, Mask, PartMask


def test_oracle_matches_parts_with_the_same_canonical_name() -> None:
    corr = correspond.build("oracle", ToolContext(FeatureCache()))
    assert isinstance(corr, Corresponder) and "oracle" in correspond.list_backends()
    m = Mask.from_numpy(np.ones((8, 8), bool))
    a = [PartMask(label="Leg", mask=m), PartMask(label="seat", mask=m)]
    b = [PartMask(label="arm", mask=m), PartMask(label="leg", mask=m)]
    img_a, img_b = ImageRef(np.zeros((8, 8, 3), np.uint8)), ImageRef(np.zeros((16, 32, 3), np.uint8))
    out = corr.correspond(img_a, a, img_b, b)
    assert out.similarity == [[0.0, 1.0], [0.0, 0.0]] and out.matches == [(0, 1, 1.0)]
    assert corr.match_points(img_a, [(2.0, 4.0)], img_b) == [(8.0, 8.0)]
