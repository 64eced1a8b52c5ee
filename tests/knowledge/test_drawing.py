"""draw_hierarchy: a layered PNG of objects' categories, parts and subparts."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mereo.knowledge.drawing import draw_hierarchy


def test_draw_hierarchy_highlights_shared_parts(kb, tmp_path):
    out = draw_hierarchy(kb, ["chair", "stool"], tmp_path / "sub" / "chair_stool.png")
    assert out.exists() and out.stat().st_size > 5_000
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert img.shape[0] > 100 and img.shape[1] > 100
    red = (abs(img[..., 0] - 0xC4) < 8) & (abs(img[..., 1] - 0x4E) < 8) & (abs(img[..., 2] - 0x52) < 8)
    assert red.sum() > 100  # the shared-part colour is present
    lone = draw_hierarchy(kb, ["dog"], tmp_path / "dog.png", sources=["PartImageNet"])
    assert lone.stat().st_size > 1_000
