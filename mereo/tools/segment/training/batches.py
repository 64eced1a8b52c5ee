"""Training batches of PLUM-small: gathering samples into tensors, mirrored and zoomed views,
and freshly rendered scenes for the encoder's dense loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mereo.tools.segment.training.data import SegmentSet

#: Spans per sample in a training step (the rest of a long description is skipped that step).
MAX_TRAIN_SPANS = 6


@dataclass
class Batch:
    """Tensors of one batch (``B`` samples, ``T`` tokens, ``K`` spans, side ``S``)."""

    images: torch.Tensor  # B x 3 x S x S uint8
    tokens: torch.Tensor  # B x T x 384 float
    attention: torch.Tensor  # B x T bool
    tags: torch.Tensor  # B x T long (-100 = ignore)
    span_index: torch.Tensor  # B x K x T float 0/1
    active: torch.Tensor  # B x K bool
    targets: torch.Tensor  # B x K x S x S float
    part_maps: torch.Tensor  # B x S x S long, dense part classes (auxiliary target)
    object_maps: torch.Tensor  # B x S x S long, dense object classes (auxiliary target)


def make_batch(ds: SegmentSet, idx: np.ndarray, max_spans: int | None = None) -> Batch:
    """Gather samples ``idx`` of ``ds`` into tensors (trimmed to the longest text / span list).

    ``max_spans`` keeps only each sample's first spans (in text order, which the generator
    shuffles), to bound the cost of a training step.
    """
    n_spans = ds.n_spans[idx]
    if max_spans is not None:
        n_spans = np.minimum(n_spans, max_spans)
    k = max(1, int(n_spans.max()))
    t = max(1, int(ds.attention[idx].sum(1).max()))
    st = ds.span_tokens[idx, :k].astype(np.int64)
    pos = np.arange(t)[None, None, :]
    span_index = (pos >= st[..., :1]) & (pos < st[..., 1:]) & (st[..., :1] >= 0)
    return Batch(
        images=torch.from_numpy(ds.images[ds.scene_of[idx]]).permute(0, 3, 1, 2).contiguous(),
        tokens=torch.from_numpy(ds.tokens[idx, :t].astype(np.float32)),
        attention=torch.from_numpy(ds.attention[idx, :t]),
        tags=torch.from_numpy(ds.tags[idx, :t].astype(np.int64)),
        span_index=torch.from_numpy(span_index.astype(np.float32)),
        active=torch.from_numpy(np.arange(k)[None, :] < n_spans[:, None]),
        targets=torch.from_numpy(ds.target_masks(idx)[:, :k].astype(np.float32)),
        part_maps=torch.from_numpy(ds.part_maps[ds.scene_of[idx]].astype(np.int64)),
        object_maps=torch.from_numpy(ds.object_maps[ds.scene_of[idx]].astype(np.int64)),
    )


def flip_half(b: Batch, rng: np.random.Generator) -> Batch:
    """Mirror a random half of the samples left-right (images, span targets, dense maps).

    Descriptions never say left or right, so a mirrored sample is as valid as the original.
    """
    flip = torch.from_numpy(rng.random(b.images.shape[0]) < 0.5)
    if not bool(flip.any()):
        return b

    def f(x: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (x.dim() - 1)
        return torch.where(flip.view(shape), x.flip(-1), x)

    return Batch(
        images=f(b.images),
        tokens=b.tokens,
        attention=b.attention,
        tags=b.tags,
        span_index=b.span_index,
        active=b.active,
        targets=f(b.targets),
        part_maps=f(b.part_maps),
        object_maps=f(b.object_maps),
    )


def zoom_batch(b: Batch, rng: np.random.Generator, fraction: float) -> Batch:
    """Replace a random ``fraction`` of the samples by a crop around their object, at the same size.

    The crop is the square around the union of the sample's target masks, its side
    :data:`~mereo.tools.segment.zoom.ZOOM_SCALE` times the box's longer side and its centre moved
    by up to :data:`~mereo.tools.segment.zoom.ZOOM_SHIFT` of the side, so that the model learns
    the second pass of :func:`~mereo.tools.segment.zoom.two_pass` from boxes as rough as a first
    pass gives. Images and targets are resampled bilinearly (targets stay soft), dense label maps
    by nearest neighbour.
    """
    from mereo.tools.segment.zoom import ZOOM_SCALE, ZOOM_SHIFT, crop, mask_boxes, square_boxes

    n = b.images.shape[0]
    union = (b.targets * b.active[..., None, None].float()).amax(1) > 0.5
    boxes, has = mask_boxes(union)
    pick = torch.from_numpy(rng.random(n) < fraction) & has
    scale = torch.from_numpy(rng.uniform(*ZOOM_SCALE, n)).float()
    shift = torch.from_numpy(rng.uniform(-ZOOM_SHIFT, ZOOM_SHIFT, (n, 2))).float()
    if not bool(pick.any()):
        return b
    squares = square_boxes(boxes, scale, shift)[pick]

    def warp(x: torch.Tensor, mode: str, padding: str) -> torch.Tensor:
        src = x[pick].float()
        res = crop(src if src.dim() == 4 else src[:, None], squares, mode, padding)
        res = res if src.dim() == 4 else res[:, 0]
        out = x.clone()
        out[pick] = res if x.is_floating_point() else res.round().to(x.dtype)
        return out

    return Batch(
        images=warp(b.images, "bilinear", "border"),
        tokens=b.tokens,
        attention=b.attention,
        tags=b.tags,
        span_index=b.span_index,
        active=b.active,
        targets=warp(b.targets, "bilinear", "zeros"),
        part_maps=warp(b.part_maps, "nearest", "zeros"),
        object_maps=warp(b.object_maps, "nearest", "zeros"),
    )


class FreshScenes:
    """Newly rendered SynthParts train scenes for the encoder's dense loss (never repeated).

    Rendering costs ~7 ms a scene, while a description's MiniLM tokens cost ~30 ms, so the span
    samples come from the cached set and only the dense maps use an endless stream of new scenes
    (its own seed stream, ``(train, 1000 + seed, i)``, disjoint from the cached set's).
    """

    def __init__(self, seed: int, size: int):
        self.seed, self.size, self.next = 1000 + seed, size, 0

    def state_dict(self) -> dict[str, int]:
        """Where the stream is (for a resumed training run)."""
        return {"next": self.next}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.next = int(state["next"])

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(images n x 3 x S x S uint8, part maps n x S x S, object maps n x S x S)``."""
        from mereo.data.synthparts import generate_scene
        from mereo.tools.segment.training.data import scene_arrays

        rows = [
            scene_arrays(generate_scene("train", self.seed, i, size=self.size), self.size)
            for i in range(self.next, self.next + n)
        ]
        self.next += n
        ims, parts, objects = zip(*rows, strict=True)
        return dense_tensors(np.stack(ims), np.stack(parts), np.stack(objects))


def dense_tensors(
    images: np.ndarray, part_maps: np.ndarray, object_maps: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``B x S x S x 3`` uint8 images and ``B x S x S`` label maps -> the encoder's input and the
    dense loss's targets."""
    return (
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(part_maps.astype(np.int64)),
        torch.from_numpy(object_maps.astype(np.int64)),
    )
