"""Segment backends: registry, oracle / whole-object, plum-small on any image size, bad input, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mereo.cache import FeatureCache
from mereo.errors import InvalidImageError, UnknownBackendError, ValidationError
from mereo.tools.base import Segmenter, ToolContext
from mereo.tools.segment import REGISTRY, build, describe, list_backends
from mereo.tools.segment.plum import PlumSegmenter
from mereo.tools.segment.training.evaluate import scene_gold
from mereo.types import ImageRef


@pytest.fixture(scope="module")
def scene_ctx():
    from mereo.data.synthparts import generate_scenes

    scene = next(iter(generate_scenes("test", 1, seed=11, size=128)))
    image = ImageRef(scene.image)
    ctx = ToolContext(FeatureCache())
    ctx.gold[image.sha256] = scene_gold(scene)
    return scene, image, ctx


def test_registry_lists_every_backend() -> None:
    assert set(list_backends()) == {
        "plum-small",
        "synthparts-cnn",
        "sam-clip",
        "sam3",
        "oracle",
        "whole-object",
    }
    assert sorted(REGISTRY) == list_backends()
    with pytest.raises(UnknownBackendError, match="known backends"):
        build("lisa", ToolContext(FeatureCache()))


def test_oracle_returns_gold_masks_of_requested_parts(scene_ctx) -> None:
    scene, image, ctx = scene_ctx
    obj = scene.objects[-1]
    vis = obj.visible_parts()
    seg = build("oracle", ctx)
    assert isinstance(seg, Segmenter)
    out = seg.segment(image, parts=vis, object=obj.category, image_index=1)
    assert [p.label for p in out] == vis
    for p in out:
        assert np.array_equal(p.mask.to_numpy(), obj.part_mask(p.label))
        assert p.source == "segment:oracle" and p.image_index == 1 and p.object == obj.category
    # parts named in a text, plural or not; negated and lacking ones are skipped
    text = f"The {obj.category} has {vis[0]}s and a propeller, but no {vis[-1]}."
    labels = [p.label for p in seg.segment(image, text=text, object=obj.category)]
    assert vis[0] in labels and "propeller" not in labels
    if len(vis) > 1:
        assert vis[-1] not in labels


def test_whole_object_baseline_gives_the_object_mask(scene_ctx) -> None:
    scene, image, ctx = scene_ctx
    obj = scene.objects[-1]
    out = build("whole-object", ctx).segment(image, parts=obj.visible_parts(), object=obj.category)
    assert out and all(np.array_equal(p.mask.to_numpy(), obj.mask) for p in out)


def test_oracle_without_gold_says_why() -> None:
    from mereo.errors import DatasetError

    with pytest.raises(DatasetError, match="gold"):
        build("oracle", ToolContext(FeatureCache())).segment(np.zeros((32, 32, 3), np.uint8), parts=["leg"])


@pytest.mark.parametrize("shape", [(64, 64), (90, 150), (300, 200)])
def test_plum_masks_come_back_at_the_image_size(random_plum, shape) -> None:
    ctx = ToolContext(FeatureCache())
    seg = PlumSegmenter(ctx, model=random_plum, min_pixels=0, threshold=-1e9)  # keep every mask
    with torch.no_grad():
        random_plum.mask_decoder.iou_prediction_head.layers[-1].bias.fill_(10.0)  # always "present"
    img = np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)
    out = seg.segment(img, parts=["seat", "legs", "back"], object="chair", image_index=2)
    assert [p.label for p in out] == ["seat", "leg", "back"]
    for p in out:
        assert p.mask.size == shape and p.source == "segment:plum-small" and p.image_index == 2
        assert 0.0 <= p.score <= 1.0


def test_image_is_encoded_once_and_the_trace_says_so(random_plum) -> None:
    ctx = ToolContext(FeatureCache())
    seg = PlumSegmenter(ctx, model=random_plum)
    img = ImageRef(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    seg.segment(img, parts=["seat", "leg"], object="chair")
    seg.segment(img, text="The chair has a back.", object="chair")
    seg.segment(img, parts=["seat"], object="chair")
    cache_events = [e["cache"] for e in ctx.events if e.get("what") == "image embedding"]
    assert cache_events[0] == "miss" and cache_events[1:] == ["hit"] * (len(cache_events) - 1)
    assert ctx.cache.misses == 1


def test_bad_input(random_plum, scene_ctx) -> None:
    ctx = ToolContext(FeatureCache())
    seg = PlumSegmenter(ctx, model=random_plum)
    img = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValidationError, match="empty"):
        seg.segment(img, text="   ")
    with pytest.raises(ValidationError, match="empty"):
        seg.segment(img, parts=[])
    with pytest.raises(ValidationError, match="at most"):
        seg.segment(img, text="leg " * 10_000)
    with pytest.raises(InvalidImageError):
        seg.segment("/no/such/image.png", parts=["leg"])
    with pytest.raises(InvalidImageError):
        seg.segment({"not": "an image"}, parts=["leg"])
    # a part the object does not have: left out (the oracle knows; the model is checked in evals)
    scene, image, gctx = scene_ctx
    obj = scene.objects[-1]
    assert build("oracle", gctx).segment(
        image, parts=["propeller", "udder"], object=obj.category
    ) == [] or obj.category in ("airplane", "cow")


def test_describe_is_exported_for_the_agent() -> None:
    assert describe("stool", ["seat", "leg"]) == "The stool has a seat and a leg."


def test_committed_checkpoint_loads_and_finds_parts(scene_ctx) -> None:
    from mereo.checkpoints import CHECKPOINT_DIR

    if not (CHECKPOINT_DIR / "plum-small.safetensors").exists():
        pytest.skip("plum-small has not been trained yet")
    scene, image, ctx = scene_ctx
    seg = build("plum-small", ctx)
    assert seg.model.config.image_size == 128
    obj = max(scene.objects, key=lambda o: o.mask.sum())
    text = describe(obj.category, obj.visible_parts())
    spans, _ = seg.tag_spans(text)
    assert [text[a:b] for a, b in spans] == obj.visible_parts()
    assert seg.segment(image, text="It is a sunny day.") == []  # no part names, no spans
    out = seg.segment(image, text=text, object=obj.category)
    assert out, "the trained model should find at least one part of the largest object"
    ious = [p.mask.iou(type(p.mask).from_numpy(obj.part_mask(p.label))) for p in out]
    assert max(ious) > 0.3


def test_a_named_part_no_pixel_was_labelled_with_gets_its_best_guess_on_the_object() -> None:
    from mereo.data.synthparts import generate_scenes
    from mereo.tools.segment.text import describe

    ctx = ToolContext(FeatureCache())
    fill, plain = build("synthparts-cnn", ctx), build("synthparts-cnn:@no-fill", ctx)
    extra = 0
    for scene in generate_scenes("test", 12, seed=0):
        img = ImageRef(scene.image)
        for obj in scene.objects:
            text = describe(obj.category, obj.visible_parts())
            a = {m.label: m for m in fill.segment(img, text=text, object=obj.category)}
            b = {m.label: m for m in plain.segment(img, text=text, object=obj.category)}
            assert set(b) <= set(a)
            for label, m in b.items():  # what was labelled stays as it was
                assert np.array_equal(m.mask.to_numpy(), a[label].mask.to_numpy())
            region = fill.zoomed_region(img, fill.region(img, fill.encoder.encode(ctx, img), obj.category))
            for label in set(a) - set(b):  # a guess lies on the object, with its (lower) peak as score
                extra += 1
                assert region is not None and not (a[label].mask.to_numpy() & ~region).any()
                assert 0.0 < a[label].score <= 1.0 and a[label].guess
            assert not any(m.guess for m in b.values())  # labelled masks are not guesses
    assert extra > 0


def test_a_small_object_is_outlined_again_in_its_zoomed_crop() -> None:
    from mereo.data.synthparts import generate_scenes

    ctx = ToolContext(FeatureCache())
    seg = build("synthparts-cnn", ctx)
    plain_iou, zoomed_iou = [], []
    for scene in generate_scenes("val", 80, seed=0):
        if len(scene.objects) < 3:
            continue
        img = ImageRef(scene.image)
        enc = seg.encoder.encode(ctx, img)
        cats = [o.category for o in scene.objects]
        for obj in scene.objects:
            if cats.count(obj.category) > 1:
                continue
            region = seg.region(img, enc, obj.category)
            box = seg.zoomed(img, region)
            if region is None or box is None:  # none found, or too large to zoom on
                assert seg.zoomed_region(img, region) is region
                continue
            zoomed = seg.zoomed_region(img, region)
            assert zoomed is not None
            (top, left, side), _, _ = box
            outside = np.ones_like(zoomed)
            outside[top : top + side, left : left + side] = False
            assert not (zoomed & outside).any()
            for out, m in ((plain_iou, region), (zoomed_iou, zoomed)):
                out.append((m & obj.mask).sum() / max(1, (m | obj.mask).sum()))
    assert len(zoomed_iou) >= 10
    # seen at the scale of the training scenes' large objects, the outlines fit better
    assert np.mean(zoomed_iou) > np.mean(plain_iou)
