"""The recognition family's ``oracle`` backend."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.cache import FeatureCache
from mereo.errors import DatasetError
from mereo.tools import recognize
from mereo.tools.base import Recognizer, ToolContext
from mereo.types import ImageRef, Mask, PartMask


def test_oracle_gives_the_gold_objects_largest_first() -> None:
    ctx = ToolContext(FeatureCache())
    rec = recognize.build("oracle", ctx)
    assert isinstance(rec, Recognizer) and "oracle" in recognize.list_backends()
    image = ImageRef(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(DatasetError, match="register_gold"):
        rec.recognize(image)
    big, small = np.zeros((16, 16), bool), np.zeros((16, 16), bool)
    big[:8], small[12:, 12:] = True, True
    ctx.gold[image.sha256] = [
        PartMask(label="stool", mask=Mask.from_numpy(small), kind="object"),
        PartMask(label="chair", mask=Mask.from_numpy(big), kind="object"),
        PartMask(label="leg", object="chair", mask=Mask.from_numpy(big), kind="part"),
    ]
    assert [r.label for r in rec.recognize(image)] == ["chair", "stool"]
    assert [r.label for r in rec.recognize(image, candidates=["Stool"])] == ["stool"]
    assert rec.score(image, Mask.from_numpy(small), ["stool", "chair"]) == [1.0, 0.0]
    assert rec.score(image, None, ["chair", "table"]) == [1.0, 0.0]
