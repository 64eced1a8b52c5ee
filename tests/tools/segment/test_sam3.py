"""The sam3 backend on a tiny random SAM 3 saved in the transformers format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mereo.cache import FeatureCache
from mereo.errors import CheckpointError, ValidationError
from mereo.tools.base import ToolContext
from mereo.tools.segment import build, list_backends
from mereo.tools.segment.sam3 import Sam3Segmenter, Sam3Settings, crop_box
from mereo.types import ImageRef, PartMask


def _image(seed: int = 0, h: int = 40, w: int = 60) -> ImageRef:
    return ImageRef((np.random.RandomState(seed).rand(h, w, 3) * 255).astype(np.uint8))


@pytest.fixture()
def seg(tiny_sam3: Path) -> Sam3Segmenter:
    return build(f"sam3:model={tiny_sam3},threshold=0.0", ToolContext(FeatureCache(), device="cpu"))


def test_registered() -> None:
    assert "sam3" in list_backends()


def test_parts_give_one_partmask_per_instance_with_sam3_scores(seg: Sam3Segmenter) -> None:
    img = _image()
    out = seg.segment(img, parts=["leg", "seat"], object="chair", image_index=1)
    assert out and all(isinstance(p, PartMask) for p in out)
    labels = [p.label for p in out]
    assert set(labels) <= {"leg", "seat"}
    assert labels.count("leg") > 1  # instances kept separate (8 queries, threshold 0)
    assert len(labels) <= 2 * seg.settings.max_instances
    for p in out:
        assert p.object == "chair" and p.image_index == 1 and p.source.startswith("segment:sam3:")
        assert tuple(p.mask.size) == (40, 60) and p.mask.area > 0
    legs = [p.score for p in out if p.label == "leg"]
    assert legs == sorted(legs, reverse=True)
    # the scores are SAM 3's own: class probability x presence probability, from a plain forward pass
    inputs = seg.processor(images=img.array, text=["leg of chair"], return_tensors="pt")
    with torch.no_grad():
        ref = seg.model(**inputs)
    expected = (ref.pred_logits.sigmoid() * ref.presence_logits.sigmoid())[0].sort(descending=True).values
    assert np.allclose(legs, expected[: len(legs)].numpy(), atol=1e-5)


def test_batched_phrases_equal_one_at_a_time(seg: Sam3Segmenter) -> None:
    img = _image(1)
    together = seg.instances(img, ["leg of chair", "seat of chair", "back of chair"])
    alone = [seg.instances(img, [p])[0] for p in ["leg of chair", "seat of chair", "back of chair"]]
    for a, b in zip(together, alone, strict=True):
        assert [s for _, s in a] == pytest.approx([s for _, s in b], abs=1e-5)
        assert all((ma == mb).all() for (ma, _), (mb, _) in zip(a, b, strict=True))


def test_vision_features_are_cached_per_image(seg: Sam3Segmenter) -> None:
    img = _image(2)
    seg.segment(img, parts=["leg"], object="chair")
    hits, misses = seg.ctx.cache.hits, seg.ctx.cache.misses
    seg.segment(ImageRef(img.array.copy()), parts=["seat", "back"], object="chair")
    assert (seg.ctx.cache.hits, seg.ctx.cache.misses) == (hits + 1, misses)
    assert seg.ctx.events[-1]["cache"] == "hit"


def test_box_crops_the_image_and_keeps_masks_inside(seg: Sam3Segmenter) -> None:
    img = _image(3, 64, 96)
    box = (40.0, 20.0, 30.0, 24.0)
    out = seg.segment(img, parts=["leg"], object="chair", box=box)
    x0, y0, x1, y1 = crop_box(box, 64, 96)
    assert (x0, y0, x1, y1) == (32, 12, 78, 52)  # padded by max(8 px, 10 %)
    assert out
    for p in out:
        m = p.mask.to_numpy()
        assert not m[:y0].any() and not m[y1:].any() and not m[:, :x0].any() and not m[:, x1:].any()
    assert "crop" in seg.ctx.events[-1]["what"]


def test_text_names_the_parts(seg: Sam3Segmenter) -> None:
    out = seg.segment(_image(), text="The chair has a seat, a back and four legs.", object="chair")
    assert {p.label for p in out} <= {"seat", "back", "leg"} and out


def test_threshold_drops_instances(tiny_sam3: Path) -> None:
    strict = build(f"sam3:model={tiny_sam3},threshold=0.99", ToolContext(FeatureCache(), device="cpu"))
    assert strict.segment(_image(), parts=["leg"], object="chair") == []


def test_bad_requests() -> None:
    with pytest.raises(ValidationError):
        Sam3Settings.parse("model=x,colour=red")
    with pytest.raises(ValidationError):
        Sam3Settings.parse("model=x,threshold=2")
    with pytest.raises(ValidationError):
        crop_box((0, 0, 0, 5), 10, 10)


def test_bad_input(seg: Sam3Segmenter) -> None:
    with pytest.raises(ValidationError):
        seg.segment(_image(), text=" ", parts=[])
    assert seg.segment(_image(), text="a sentence that names nothing") == []


def test_missing_weights_say_how_to_get_them(tmp_path: Path) -> None:
    ctx = ToolContext(FeatureCache(), device="cpu")
    with pytest.raises(CheckpointError, match="huggingface-cli download facebook/sam3"):
        build("sam3", ctx)
    with pytest.raises(CheckpointError, match="not found"):
        build(f"sam3:{tmp_path / 'nowhere'}", ctx)
    with pytest.raises(CheckpointError, match="huggingface-cli download someone/not-cached-sam3"):
        build("sam3:someone/not-cached-sam3", ctx)
    with pytest.raises(CheckpointError, match="save_pretrained"):
        build(f"sam3:{tmp_path}", ctx)  # a folder without a checkpoint
