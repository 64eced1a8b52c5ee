"""The grounding-dino backend on a tiny random Grounding DINO saved in the transformers format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mereo.cache import FeatureCache
from mereo.errors import CheckpointError
from mereo.tools.base import ToolContext
from mereo.tools.recognize import build
from mereo.tools.recognize.grounding_dino import GroundingDinoRecognizer
from mereo.types import ImageRef, Mask


def _image(seed: int = 0, h: int = 40, w: int = 60) -> ImageRef:
    return ImageRef((np.random.RandomState(seed).rand(h, w, 3) * 255).astype(np.uint8))


@pytest.fixture()
def rec(tiny_grounding_dino: Path) -> GroundingDinoRecognizer:
    return build(f"grounding-dino:{tiny_grounding_dino}", ToolContext(FeatureCache(), device="cpu"))


def test_recognize_names_boxes_and_scores(rec: GroundingDinoRecognizer) -> None:
    out = rec.recognize(_image(), ["chair", "cat"], top_k=3)
    assert 1 <= len(out) <= 3
    for r in out:
        x, y, w, h = r.box
        assert r.label in {"chair", "cat"} and 0 < r.score <= 1
        assert x >= 0 and y >= 0 and x + w <= 60 + 1e-6 and y + h <= 40 + 1e-6


def test_name_scores_are_the_best_of_their_tokens(rec: GroundingDinoRecognizer) -> None:
    img = _image(1)
    det = rec.detect(img, ["chair", "cat"])
    inputs = rec.processor(images=img.pil(), text="chair. cat.", return_tensors="pt")
    with torch.no_grad():
        probs = rec.model(**inputs).logits[0].sigmoid()
    ids = inputs["input_ids"][0].tolist()
    # [CLS] c h a i r . c a t . [SEP] with the character tokenizer
    chair, cat = probs[:, 1:6].max(dim=1).values, probs[:, 7:10].max(dim=1).values
    assert len(ids) == 12
    assert np.allclose(det.scores[:, 0], chair.numpy(), atol=1e-5)
    assert np.allclose(det.scores[:, 1], cat.numpy(), atol=1e-5)


def test_a_long_vocabulary_is_split_into_prompts(rec: GroundingDinoRecognizer) -> None:
    names = rec.vocabulary()
    groups = rec.prompts(names)
    assert len(groups) > 1 and [n for g in groups for n in g] == names
    det = rec.detect(_image(2), names)
    assert det.scores.shape == (10 * len(groups), len(names))
    assert (det.scores.max(axis=0) > 0).all()  # every name was scored in its prompt


def test_detections_are_cached(rec: GroundingDinoRecognizer) -> None:
    img = _image(3)
    rec.recognize(img, ["chair"])
    hits = rec.ctx.cache.hits
    rec.recognize(img, ["chair"])
    assert rec.ctx.cache.hits == hits + 1
    m = np.zeros((40, 60), dtype=bool)
    m[2:20, 3:30] = True
    assert len(rec.score(img, Mask.from_numpy(m), ["chair", "cat", "dog"])) == 3


def test_missing_weights() -> None:
    with pytest.raises(CheckpointError, match="IDEA-Research/grounding-dino-tiny"):
        build("grounding-dino", ToolContext(FeatureCache(), device="cpu"))
