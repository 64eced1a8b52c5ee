"""Correspondence backends: one feature-based corresponder over any dense encoder, and ``none``.

A backend encodes each image once (cached in ``ctx.cache`` under ``"correspond:<backend>"`` by the
image's sha256) and answers ``correspond`` and ``match_points`` from the cached tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from mereo.errors import ValidationError
from mereo.tools.base import Correspondence, ToolContext
from mereo.tools.correspond.matching import cosine_matrix, mutual_matches, part_descriptors, transfer_points
from mereo.types import ImageRef, PartMask

#: image (``H x W x 3`` uint8) -> (``N x D`` tokens, ``(grid_h, grid_w)``)
EncodeFn = Callable[[np.ndarray], tuple[torch.Tensor, tuple[int, int]]]


class DenseFeatures(BaseModel):
    """Patch tokens of one image.

    Attributes:
        tokens: ``N x D`` float32 tensor, row-major over the grid.
        grid: ``(grid_h, grid_w)``; ``grid_h * grid_w == N``. The grid covers the whole image.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    tokens: torch.Tensor
    grid: tuple[int, int]


class PointList(BaseModel):
    """``(x, y)`` pixel points, checked to lie inside an image."""

    points: list[tuple[float, float]] = Field(default_factory=list)


def _check_parts(parts: Sequence[PartMask], image: ImageRef, what: str) -> list[np.ndarray]:
    masks = []
    for p in parts:
        if not isinstance(p, PartMask):
            raise ValidationError(f"{what} must be PartMask objects, got {type(p).__name__}")
        if tuple(p.mask.size) != (image.height, image.width):
            raise ValidationError(
                f"{what}: mask of {p.label!r} is {p.mask.size[1]}x{p.mask.size[0]} "
                f"but the image is {image.width}x{image.height}; masks must be in "
                "the image's frame."
            )
        masks.append(p.mask.to_numpy())
    return masks


class FeatureCorresponder:
    """Correspondence from any dense patch-feature encoder.

    Args:
        name: the backend name (also the cache namespace suffix).
        encode: image -> (tokens, grid).
        ctx: the tool context (cache, event log).
        threshold: the similarity a mutual best match needs.
        temperature: the soft-argmax temperature of ``match_points``.
    """

    def __init__(
        self, name: str, encode: EncodeFn, ctx: ToolContext, threshold: float = 0.5, temperature: float = 0.02
    ):
        self.name = name
        self._encode = encode
        self.ctx = ctx
        self.threshold = threshold
        self.temperature = temperature

    def features(self, image: ImageRef | np.ndarray) -> DenseFeatures:
        """The image's patch tokens, computed once per image content."""
        ref = ImageRef(image)

        def compute() -> DenseFeatures:
            tokens, grid = self._encode(ref.array)
            return DenseFeatures(tokens=tokens, grid=(int(grid[0]), int(grid[1])))

        return self.ctx.cached(
            f"correspond:{self.name}", ref.sha256, compute, tool="correspond", backend=self.name
        )

    def correspond(
        self, image_a: ImageRef, parts_a: Sequence[PartMask], image_b: ImageRef, parts_b: Sequence[PartMask]
    ) -> Correspondence:
        """Cosine similarity of mask-pooled features of every part pair, and mutual best matches."""
        ref_a, ref_b = ImageRef(image_a), ImageRef(image_b)
        masks_a, masks_b = _check_parts(parts_a, ref_a, "parts_a"), _check_parts(parts_b, ref_b, "parts_b")
        fa, fb = self.features(ref_a), self.features(ref_b)
        sim = cosine_matrix(
            part_descriptors(fa.tokens, masks_a, fa.grid), part_descriptors(fb.tokens, masks_b, fb.grid)
        ).clamp(-1.0, 1.0)
        return Correspondence(
            similarity=sim.tolist(), matches=mutual_matches(sim, self.threshold), threshold=self.threshold
        )

    def match_points(
        self, image_a: ImageRef, points: Sequence[tuple[float, float]], image_b: ImageRef
    ) -> list[tuple[float, float]]:
        """Map ``(x, y)`` pixels of image_a to image_b (soft argmax over feature similarity)."""
        ref_a, ref_b = ImageRef(image_a), ImageRef(image_b)
        pts = _check_points(points, ref_a)
        fa, fb = self.features(ref_a), self.features(ref_b)
        out = transfer_points(
            fa.tokens,
            fa.grid,
            (ref_a.height, ref_a.width),
            pts,
            fb.tokens,
            fb.grid,
            (ref_b.height, ref_b.width),
            self.temperature,
        )
        return [(float(x), float(y)) for x, y in out.tolist()]


def _check_points(points: Sequence[tuple[float, float]], image: ImageRef) -> torch.Tensor:
    try:
        checked = PointList(points=list(points)).points
    except Exception as e:
        raise ValidationError(f"points must be (x, y) pixel pairs: {e}") from e
    for x, y in checked:
        if not (0 <= x <= image.width and 0 <= y <= image.height):
            raise ValidationError(
                f"point ({x}, {y}) lies outside image_a "
                f"({image.width}x{image.height} pixels); points are (x, y) pixels."
            )
    return torch.tensor(checked, dtype=torch.float32).reshape(-1, 2)


class NoCorresponder:
    """The ``none`` backend: no visual evidence, so the agent falls back to part names only.

    ``correspond`` returns an all-zero similarity matrix and no matches; ``match_points`` maps
    each point to the same relative position in image_b.
    """

    name = "none"

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def correspond(
        self, image_a: ImageRef, parts_a: Sequence[PartMask], image_b: ImageRef, parts_b: Sequence[PartMask]
    ) -> Correspondence:
        ref_a, ref_b = ImageRef(image_a), ImageRef(image_b)
        _check_parts(parts_a, ref_a, "parts_a")
        _check_parts(parts_b, ref_b, "parts_b")
        return Correspondence(similarity=[[0.0] * len(parts_b) for _ in parts_a], matches=[], threshold=1.0)

    def match_points(
        self, image_a: ImageRef, points: Sequence[tuple[float, float]], image_b: ImageRef
    ) -> list[tuple[float, float]]:
        ref_a, ref_b = ImageRef(image_a), ImageRef(image_b)
        pts = _check_points(points, ref_a)
        sx, sy = ref_b.width / ref_a.width, ref_b.height / ref_a.height
        return [(float(x) * sx, float(y) * sy) for x, y in pts.tolist()]
