"""Object zoom of PLUM-small: boxes, crop and paste-back geometry, the two-pass inference and its
cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mereo.cache import FeatureCache
from mereo.tools.base import ToolContext
from mereo.tools.segment.model import PlumConfig, PlumSmall
from mereo.tools.segment.plum import PlumSegmenter
from mereo.tools.segment.zoom import OUTSIDE, crop, mask_boxes, paste, square_boxes, two_pass
from mereo.types import ImageRef


def test_mask_boxes_are_tight_pixel_edges_and_flag_empty_masks() -> None:
    m = torch.zeros(2, 20, 30, dtype=torch.bool)
    m[0, 3:7, 10:25] = True
    boxes, has = mask_boxes(m)
    assert boxes[0].tolist() == [10.0, 3.0, 25.0, 7.0]
    assert has.tolist() == [True, False]
    sq = square_boxes(boxes[:1], 2.0)
    assert sq[0].tolist() == [2.5, -10.0, 30.0]  # side 2 x 15, centred on (17.5, 5)
    assert square_boxes(torch.tensor([[5.0, 5.0, 6.0, 6.0]]), 1.0)[0, 2] == 16.0  # MIN_SIDE


def test_crop_cuts_the_square_and_paste_puts_it_back() -> None:
    size = 32
    img = torch.zeros(1, 1, size, size)
    img[0, 0, 8:16, 8:16] = 1.0  # an 8x8 square
    sq = torch.tensor([[4.0, 4.0, 16.0]])  # a 16-pixel window around it, seen 2x larger
    out = crop(img, sq, mode="nearest", padding="zeros")
    assert out.shape == img.shape
    assert out[0, 0].nonzero().min(0).values.tolist() == [8, 8]  # (8 - 4) * 2
    assert out[0, 0].nonzero().max(0).values.tolist() == [23, 23]
    back = paste(out * 10 - 5, sq, size, (size, size))[0, 0]
    assert torch.equal(back > 0, img[0, 0] > 0)
    assert (back[:4] == OUTSIDE).all() and (back[:, 20:] == OUTSIDE).all()
    big = paste(out * 10 - 5, sq, size, (64, 96))[0, 0]  # any output size, same frame
    assert big.shape == (64, 96) and big[24, 36] > 0 and big[24, 60] == OUTSIDE


def _query(model: PlumSmall, n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randn(n, 5, 384, generator=torch.Generator().manual_seed(0))
    index = torch.zeros(n, k, 5)
    for j in range(k):
        index[:, j, j] = 1
    return model.span_queries(tokens, index), model.context(tokens, torch.ones(n, 5, dtype=torch.bool))


def _tiny_inputs(
    n: int, k: int, config: PlumConfig
) -> tuple[PlumSmall, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A seeded tiny model, ``n`` random 64-pixel images and ``k`` span queries for each."""
    torch.manual_seed(0)
    model = PlumSmall(config).eval()
    images = torch.randint(0, 255, (n, 3, 64, 64), dtype=torch.uint8)
    return (model, images, *_query(model, n, k))


@torch.no_grad()
def test_two_pass_zooms_on_what_the_first_pass_found(tiny_config) -> None:
    model, images, queries, context = _tiny_inputs(2, 2, tiny_config)
    # a threshold nothing passes: no zoom, the first pass comes back unchanged
    logits, presence, _, zoomed = two_pass(model, images, queries, context, threshold=1e6, gate=False)
    first, p1 = model.decode_all(model.encode_image(images), queries, context=context)
    assert not zoomed.any() and torch.allclose(presence, p1)
    assert torch.allclose(
        logits,
        torch.nn.functional.interpolate(first, size=(64, 64), mode="bilinear", align_corners=False),
        atol=1e-5,
    )
    # everything found in image 0 only (span 1 inactive there), nothing in image 1
    active = torch.tensor([[True, False], [False, False]])
    logits, _, squares, zoomed = two_pass(
        model,
        images,
        queries,
        context,
        threshold=-1e6,
        gate=False,
        active=active,
        margin=1.0,
        out_hw=(40, 50),
    )
    assert zoomed.tolist() == [True, False] and logits.shape == (2, 2, 40, 50)
    assert squares[0].tolist() == [0.0, 0.0, 64.0]  # the whole image was "found"


def test_segmenter_zoom_caches_the_zoomed_embedding_and_traces_it(tiny_config) -> None:
    torch.manual_seed(0)
    model = PlumSmall(tiny_config).eval()
    ctx = ToolContext(FeatureCache())
    seg = PlumSegmenter(ctx, model=model, threshold=-1e6, presence_gate=False, zoom=True)
    img = ImageRef(np.random.default_rng(1).integers(0, 255, (48, 80, 3), dtype=np.uint8))
    a = seg.segment(img, parts=["seat", "leg"], object="chair")
    b = seg.segment(img, parts=["seat", "leg"], object="chair")
    assert [p.mask.size for p in a] == [(48, 80)] * 2
    assert [p.mask.counts for p in a] == [p.mask.counts for p in b]
    zoom_events = [e["cache"] for e in ctx.events if e.get("what") == "zoomed image embedding"]
    assert zoom_events == ["miss", "hit"]


@pytest.mark.parametrize("zoom", [False, True])
def test_committed_inference_settings_reach_the_backend(zoom: bool, tmp_path, tiny_config) -> None:
    from mereo.checkpoints import save_checkpoint
    from mereo.tools.segment.plum import build_plum

    torch.manual_seed(0)
    model = PlumSmall(tiny_config)
    inference = {"threshold": -0.5, "presence_gate": False, "zoom": zoom, "flip": not zoom}
    manifest = {"config": tiny_config.to_dict(), "inference": inference}
    save_checkpoint("plum-small", dict(model.state_dict()), manifest, directory=tmp_path)
    seg = build_plum(ToolContext(FeatureCache()), str(tmp_path / "plum-small.safetensors"))
    assert (seg.zoom, seg.flip, seg.threshold, seg.presence_gate) == (zoom, not zoom, -0.5, False)


@torch.no_grad()
def test_flip_average_is_mirror_symmetric_and_the_backend_caches_the_mirror(tiny_config) -> None:
    from mereo.tools.segment.model import flip_average

    model, images, queries, context = _tiny_inputs(1, 2, tiny_config)
    a, b = model.encode_image(images), model.encode_image(images.flip(-1))
    logits, presence = flip_average(model, a, b, queries, context)
    swapped, presence_s = flip_average(model, b, a, queries, context)
    # seen from the mirror, the averaged answer is the mirror image of the same answer
    assert torch.allclose(logits, swapped.flip(-1), atol=1e-4) and torch.allclose(presence, presence_s)
    plain, _ = model.decode_all(a, queries, context=context)
    assert not torch.allclose(logits, plain, atol=1e-3)
    ctx = ToolContext(FeatureCache())
    seg = PlumSegmenter(ctx, model=model, threshold=0.0, presence_gate=False, flip=True)
    img = ImageRef(images[0].permute(1, 2, 0).numpy())
    seg.segment(img, parts=["seat", "leg"], object="chair")
    seg.segment(img, parts=["leg"], object="chair")
    assert ctx.cache.misses == 2 and ctx.cache.hits == 2  # the image and its mirror, once each
