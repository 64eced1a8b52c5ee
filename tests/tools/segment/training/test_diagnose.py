"""The ``--diagnose`` variants swap in exactly the gold piece they name."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.cache import FeatureCache
from mereo.tools.base import ToolContext
from mereo.tools.encoder.runtime import load_encoder
from mereo.tools.segment.training.diagnose import VARIANTS, DiagnosticSegmenter, gold_object
from mereo.tools.segment.training.evaluate import scene_gold
from mereo.types import ImageRef, Mask


@pytest.fixture(scope="module")
def scene_ctx():
    from mereo.data.synthparts import generate_scenes

    scene = next(s for s in generate_scenes("test", 8, seed=3, size=128) if len(s.objects) >= 2)
    image = ImageRef(scene.image)
    ctx = ToolContext(FeatureCache())
    ctx.gold[image.sha256] = scene_gold(scene)
    return scene, image, ctx


def _gold_parts(ctx: ToolContext, image: ImageRef, label: str) -> np.ndarray:
    masks = [g.mask for g in ctx.gold[image.sha256] if g.kind == "part" and g.label == label]
    return Mask.union(masks).to_numpy()


def test_gold_region_keeps_masks_inside_the_gold_object(scene_ctx) -> None:
    scene, image, ctx = scene_ctx
    obj = scene.objects[0]
    seg = DiagnosticSegmenter(ctx, load_encoder(), "gold-region")
    out = seg.segment(image, parts=obj.visible_parts(), object=obj.category)
    region = gold_object(ctx, image, obj.category)
    assert region is not None and out
    for m in out:
        assert not (m.mask.to_numpy() & ~region).any()


def test_gold_kinds_are_the_gold_part_masks_within_the_region(scene_ctx) -> None:
    scene, image, ctx = scene_ctx
    obj = scene.objects[0]
    seg = DiagnosticSegmenter(ctx, load_encoder(), "gold-kinds")
    out = seg.segment(image, parts=obj.visible_parts(), object=obj.category)
    for m in out:
        assert not (m.mask.to_numpy() & ~_gold_parts(ctx, image, m.label)).any()


def test_predicted_variant_is_the_backend_and_unknown_variants_are_refused(scene_ctx) -> None:
    from mereo.tools.segment.shared import SharedEncoderSegmenter

    scene, image, ctx = scene_ctx
    obj = scene.objects[0]
    encoder = load_encoder()
    plain = SharedEncoderSegmenter(ctx, encoder).segment(
        image, parts=obj.visible_parts(), object=obj.category
    )
    diag = DiagnosticSegmenter(ctx, encoder, "predicted").segment(
        image, parts=obj.visible_parts(), object=obj.category
    )
    assert [m.label for m in plain] == [m.label for m in diag]
    for a, b in zip(plain, diag, strict=True):
        assert np.array_equal(a.mask.to_numpy(), b.mask.to_numpy())
    assert "gold-region" in VARIANTS
    with pytest.raises(ValueError):
        DiagnosticSegmenter(ctx, encoder, "nope")
