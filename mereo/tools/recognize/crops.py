"""Object and part crops of SynthParts scenes: square boxes around masks, cut out with roi_align."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import roi_align

from mereo.data.arrays import NO_PART, SceneArrays

#: Parts smaller than this many pixels are not used as crops.
MIN_PART_AREA = 16


@dataclass
class CropItem:
    """One crop: image index, ``(x0, y0, x1, y1)`` pixel box, category index, part index or -1,
    (for objects) the labels of the visible parts, and the object's index in the image."""

    image: int
    box: tuple[float, float, float, float]
    category: int
    part: int = -1
    parts: tuple[str, ...] = ()
    obj: int = -1


def square_box(
    mask: np.ndarray, margin: float = 0.15, min_side: float = 12.0
) -> tuple[float, float, float, float]:
    """Square ``(x0, y0, x1, y1)`` box around a non-empty ``H x W`` mask, enlarged by ``margin``."""
    ys, xs = np.nonzero(mask)
    return square_from_bounds(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, margin, min_side)


def square_from_bounds(
    x0: float, y0: float, x1: float, y1: float, margin: float = 0.15, min_side: float = 12.0
) -> tuple[float, float, float, float]:
    """Square box centred on a ``(x0, y0, x1, y1)`` box, side ``max(w, h) * (1 + 2 margin)``."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0, min_side) * (1 + 2 * margin)
    return (float(cx - side / 2), float(cy - side / 2), float(cx + side / 2), float(cy + side / 2))


def object_items(data: SceneArrays, min_area: int = 40) -> list[CropItem]:
    """One crop per visible object of at least ``min_area`` pixels."""
    items = []
    for i in range(len(data)):
        for k, _ in data.objects(i):
            mask = data.object_mask(i, k)
            if mask.sum() < min_area:
                continue
            labels = tuple(sorted(data.object_parts(i, k)))
            items.append(CropItem(i, square_box(mask), int(data.categories[i, k]), -1, labels, k))
    return items


def part_items(data: SceneArrays) -> list[CropItem]:
    """One crop per visible part (all instances of a label together) of each object."""
    items = []
    for i in range(len(data)):
        for k, _ in data.objects(i):
            obj = data.object_mask(i, k)
            for p in np.unique(data.partmap[i][obj]):
                if p == NO_PART:
                    continue
                mask = obj & (data.partmap[i] == p)
                if mask.sum() >= MIN_PART_AREA:
                    box = square_box(mask, margin=0.25)
                    items.append(CropItem(i, box, int(data.categories[i, k]), int(p), obj=k))
    return items


def jitter_box(
    box: tuple[float, float, float, float], rng: np.random.Generator, amount: float = 0.1
) -> tuple[float, float, float, float]:
    """The square ``box`` shifted by up to ``amount`` of its side and rescaled by up to ``exp(amount)``."""
    x0, y0, x1, y1 = box
    side = (x1 - x0) * float(np.exp(rng.uniform(-amount, amount)))
    dx, dy = rng.uniform(-amount, amount, 2) * (x1 - x0)
    cx, cy = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy
    return (float(cx - side / 2), float(cy - side / 2), float(cx + side / 2), float(cy + side / 2))


def crop_batch(
    images: np.ndarray,
    index: Sequence[int],
    boxes: Sequence[tuple[float, float, float, float]],
    size: int,
    flip: np.ndarray | None = None,
) -> torch.Tensor:
    """Cut ``(x0, y0, x1, y1)`` boxes out of ``images[index]`` and resize them to ``size``.

    Args:
        images: ``N x H x W x 3`` uint8 (all images, or just the ones indexed).
        index: image index of each box.
        boxes: pixel boxes; parts outside the image are black.
        size: output side in pixels.
        flip: optional bool per box, mirror that crop horizontally.

    Returns:
        ``B x 3 x size x size`` float in ``[0, 1]``.
    """
    uniq, inverse = np.unique(np.asarray(index), return_inverse=True)
    x = torch.as_tensor(images[uniq]).permute(0, 3, 1, 2).float() / 255.0
    return _cut(x, inverse.tolist(), boxes, size, flip, sampling_ratio=2)


def _cut(
    x: torch.Tensor,
    rows: Sequence[int],
    boxes: Sequence[tuple[float, float, float, float]],
    size: int,
    flip: np.ndarray | None,
    sampling_ratio: int,
) -> torch.Tensor:
    """``roi_align`` of box ``j`` from ``x[rows[j]]`` (``N x C x H x W``) to ``size``, then the flips."""
    rois = torch.tensor([[float(j), *b] for j, b in zip(rows, boxes, strict=True)], dtype=torch.float32)
    out = roi_align(
        x, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=sampling_ratio, aligned=True
    )
    if flip is not None and flip.any():
        f = torch.as_tensor(flip)
        out[f] = out[f].flip(-1)
    return out


def object_coverage(
    data: SceneArrays,
    items: Sequence[CropItem],
    boxes: Sequence[tuple[float, float, float, float]],
    grid: int,
    flip: np.ndarray | None = None,
) -> torch.Tensor:
    """``B x grid x grid``: the fraction of each cell of each crop covered by the crop's object
    (``item.obj``), for per-token targets of crops cut with the same boxes and flips."""
    masks = torch.as_tensor(np.stack([data.objmap[it.image] == it.obj for it in items])[:, None]).float()
    return _cut(masks, range(len(items)), boxes, grid, flip, sampling_ratio=4)[:, 0]
