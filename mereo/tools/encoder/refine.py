"""Edge-aware refinement of the encoder's coarse maps at image pixels.

The encoder's dense heads give one value per ``4 x 4`` block of its input (32 x 32 cells for a
128-pixel image); upsampled bilinearly, a part's boundary is smeared over a cell or two, and on
SynthParts' small objects that costs much of a part's IoU (gold part masks pooled to the cell grid
and upsampled the same way score only 0.55 identification gIoU on val, against 1.0 at pixels).
:func:`refine` runs a few rounds of a joint bilateral filter guided by the image's colours: each
pixel's class scores become the average of its neighbours', weighted by how alike their colours
are, so a label spreads within a region of one colour and stops at colour edges (the smoothing
step of a dense CRF, without its learned compatibilities).

Work happens at most :data:`MAX_SIDE` pixels on the long side (the maps carry no finer detail);
larger images are refined at that size and the result is resized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RefineSettings:
    """Filter settings (tuned on SynthParts val with ``scripts/tune_refine.py``).

    Attributes:
        sigma: colour distance (RGB, 0-255) at which a neighbour's weight falls to ``exp(-1/2)``.
        radius: the window is ``2 * radius + 1`` pixels wide.
        iterations: filter rounds (each spreads labels ``radius * dilation`` pixels further).
        dilation: spacing of the window's pixels.
    """

    sigma: float = 10.0
    radius: int = 2
    iterations: int = 4
    dilation: int = 2


DEFAULT = RefineSettings()
#: refinement works at most at this long side (pixels)
MAX_SIDE = 256


def working_size(size: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` at which to refine maps for an image of ``size`` pixels."""
    h, w = size
    scale = min(1.0, MAX_SIDE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def best_class(scores: torch.Tensor) -> torch.Tensor:
    """``H x W`` index of the highest of ``C x H x W`` scores (the first on ties): ``argmax(0)``,
    but through ``max(0)``, which is 5-10x faster on CPU for maps of this shape."""
    return scores.max(0).indices


def _offsets(s: RefineSettings) -> list[tuple[int, int]]:
    """The window's pixel offsets into a map padded by ``radius * dilation`` on each side."""
    k = 2 * s.radius + 1
    return [(dy * s.dilation, dx * s.dilation) for dy in range(k) for dx in range(k)]


def colour_weights(image: np.ndarray, settings: RefineSettings = DEFAULT) -> torch.Tensor:
    """``k*k x h x w`` normalised neighbour weights of an ``h x w x 3`` uint8 image."""
    s = settings
    im = torch.from_numpy(np.ascontiguousarray(image[..., :3], dtype=np.float32)).permute(2, 0, 1)
    h, w = im.shape[-2:]
    pad = s.radius * s.dilation
    padded = F.pad(im[None], (pad,) * 4, mode="replicate")[0]
    d2 = torch.stack([((padded[:, oy : oy + h, ox : ox + w] - im) ** 2).sum(0) for oy, ox in _offsets(s)])
    weights = torch.exp(d2.mul_(-1.0 / (2 * s.sigma**2)))
    return weights / weights.sum(0, keepdim=True)


def guide_weights(image: np.ndarray, settings: RefineSettings = DEFAULT) -> torch.Tensor:
    """:func:`colour_weights` of ``image`` at its :func:`working_size` (what :func:`refine` uses;
    compute it once per image and pass it to every :func:`refine` call on that image)."""
    size = (int(image.shape[0]), int(image.shape[1]))
    work = working_size(size)
    guide = image
    if work != size:
        t = torch.from_numpy(np.ascontiguousarray(image[..., :3])).permute(2, 0, 1)[None].float()
        guide = F.interpolate(t, size=work, mode="bilinear", antialias=True)[0].permute(1, 2, 0).numpy()
    return colour_weights(guide, settings)


def cached_weights(ctx: Any, image: Any, settings: RefineSettings = DEFAULT) -> torch.Tensor:
    """:func:`guide_weights` of an ``ImageRef``, computed once per image and settings in
    ``ctx.cache`` (every tool that refines on the image reads the same weights)."""
    weights, _ = ctx.cache.get_or_compute(
        "refine:weights", f"{image.sha256}:{settings}", lambda: guide_weights(image.array, settings)
    )
    return weights


def refine(
    scores: torch.Tensor,
    image: np.ndarray,
    settings: RefineSettings = DEFAULT,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Colour-guided smoothing of class scores.

    The scores are upsampled bilinearly, turned into log-probabilities over the ``C`` classes
    and filtered.

    Args:
        scores: ``C x h x w`` float logits on any grid.
        image: ``H x W x 3`` uint8 image the scores describe.
        settings: the filter.
        weights: :func:`guide_weights` of ``image`` and ``settings`` (computed when None).

    Returns:
        ``C x H x W`` refined scores at the image's pixels (argmax them for labels).
    """
    size = (int(image.shape[0]), int(image.shape[1]))
    work = working_size(size)
    x = F.interpolate(scores[None].float(), size=work, mode="bilinear", align_corners=False).log_softmax(1)
    if settings.iterations > 0:
        weights = weights if weights is not None else guide_weights(image, settings)
        x = _smooth(x[0], weights, settings)[None]
    if work != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x[0]


def _smooth(x: torch.Tensor, weights: torch.Tensor, s: RefineSettings) -> torch.Tensor:
    """``s.iterations`` rounds of the weighted neighbour average of ``C x h x w`` scores (one
    shifted slice per window position: far less memory traffic than ``unfold``)."""
    h, w = x.shape[-2:]
    pad = s.radius * s.dilation
    offsets = _offsets(s)
    for _ in range(s.iterations):
        padded = F.pad(x[None], (pad,) * 4, mode="replicate")[0]
        out = torch.zeros_like(x)
        for j, (oy, ox) in enumerate(offsets):
            out.addcmul_(padded[:, oy : oy + h, ox : ox + w], weights[j])
        x = out
    return x
