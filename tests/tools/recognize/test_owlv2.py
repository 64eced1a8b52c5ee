"""The owlv2 backend on a tiny random OWLv2 saved in the transformers format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mereo.cache import FeatureCache
from mereo.errors import CheckpointError, ValidationError
from mereo.tools.base import Recognition, ToolContext
from mereo.tools.recognize import build, list_backends
from mereo.tools.recognize.owlv2 import Owlv2Recognizer
from mereo.types import ImageRef, Mask


def _image(seed: int = 0, h: int = 40, w: int = 60) -> ImageRef:
    return ImageRef((np.random.RandomState(seed).rand(h, w, 3) * 255).astype(np.uint8))


@pytest.fixture()
def rec(tiny_owlv2: Path) -> Owlv2Recognizer:
    return build(f"owlv2:{tiny_owlv2}", ToolContext(FeatureCache(), device="cpu"))


def test_registered() -> None:
    assert {"owlv2", "grounding-dino"} <= set(list_backends())


def test_recognize_names_boxes_and_scores(rec: Owlv2Recognizer) -> None:
    img = _image()
    out = rec.recognize(img, ["chair", "cat", "bicycle"], top_k=3)
    assert 1 <= len(out) <= 3 and all(isinstance(r, Recognition) for r in out)
    assert [r.score for r in out] == sorted((r.score for r in out), reverse=True)
    for r in out:
        x, y, w, h = r.box
        assert r.label in {"chair", "cat", "bicycle"} and 0 < r.score <= 1 and r.mask is None
        assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= 60 + 1e-6 and y + h <= 40 + 1e-6


def test_cached_path_equals_the_models_forward(rec: Owlv2Recognizer) -> None:
    img = _image(1)
    names = ["chair", "cat"]
    det = rec.detect(img, names)
    inputs = rec.processor(
        images=img.pil(),
        text=[names],
        return_tensors="pt",
        padding="max_length",
        truncation=True,
        max_length=16,
    )
    with torch.no_grad():
        ref = rec.model(**inputs)
    assert np.allclose(det.scores, ref.logits[0].sigmoid().numpy(), atol=1e-5)


def test_default_vocabulary_is_the_knowledge_base(rec: Owlv2Recognizer) -> None:
    out = rec.recognize(_image(), None, top_k=5)
    assert out and all(r.label in rec.vocabulary() for r in out)
    assert "chair" in rec.vocabulary() and len(rec.vocabulary()) > 50


def test_image_features_are_cached(rec: Owlv2Recognizer) -> None:
    img = _image(2)
    rec.recognize(img, ["chair"])
    hits = rec.ctx.cache.hits
    rec.recognize(img, ["cat", "dog"])
    assert rec.ctx.cache.hits == hits + 1 and rec.ctx.events[-1]["cache"] == "hit"


def test_score_a_region(rec: Owlv2Recognizer) -> None:
    img = _image(3)
    m = np.zeros((40, 60), dtype=bool)
    m[5:30, 10:40] = True
    scores = rec.score(img, Mask.from_numpy(m), ["chair", "cat"])
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    assert rec.score(img, Mask.empty(40, 60), ["chair"]) == [0.0]


def test_bad_input(rec: Owlv2Recognizer) -> None:
    with pytest.raises(ValidationError):
        rec.recognize(_image(), "chair")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        rec.recognize(_image(), ["chair", " "])
    with pytest.raises(ValidationError):
        rec.recognize(_image(), ["chair"], top_k=0)
    with pytest.raises(ValidationError):
        rec.score(_image(), Mask.empty(10, 10), ["chair"])


def test_missing_weights(tmp_path: Path) -> None:
    ctx = ToolContext(FeatureCache(), device="cpu")
    with pytest.raises(CheckpointError, match="owlv2:google/owlv2-base-patch16-ensemble"):
        build("owlv2", ctx)
    with pytest.raises(CheckpointError, match="huggingface-cli download google/owlv2-base-patch16"):
        build("owlv2:google/owlv2-base-patch16", ctx)
    with pytest.raises(CheckpointError, match="not found"):
        build(f"owlv2:{tmp_path / 'none'}", ctx)
