"""Pure functions on dense features: part descriptors, similarity, mutual matches, point transfer.

Features are a ``N x D`` tensor of patch tokens laid out row-major on a ``(grid_h, grid_w)`` grid
that covers the whole image; masks are ``H x W`` bool arrays in the image's pixel frame; points are
``(x, y)`` pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def mask_weights(mask: np.ndarray, grid: tuple[int, int]) -> torch.Tensor:
    """Fraction of each grid cell covered by ``mask``: ``H x W`` bool -> ``N`` float in ``[0, 1]``."""
    m = torch.as_tensor(np.asarray(mask, dtype=np.float32))[None, None]
    return F.adaptive_avg_pool2d(m, grid).flatten()


def part_descriptors(
    tokens: torch.Tensor, masks: Sequence[np.ndarray], grid: tuple[int, int]
) -> torch.Tensor:
    """Mask-weighted mean of L2-normalised tokens, L2-normalised again.

    Args:
        tokens: ``N x D`` patch tokens.
        masks: ``P`` masks, each ``H x W`` bool.
        grid: ``(grid_h, grid_w)`` with ``grid_h * grid_w == N``.

    Returns:
        ``P x D``; an empty mask gives a zero row (similarity 0 to everything).
    """
    if not masks:
        return tokens.new_zeros((0, tokens.shape[1]))
    feats = F.normalize(tokens.float(), dim=-1)
    w = torch.stack([mask_weights(m, grid) for m in masks])  # P x N
    desc = w @ feats
    return F.normalize(desc, dim=-1) * (w.sum(dim=1, keepdim=True) > 0)


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``P x D`` and ``Q x D`` -> ``P x Q`` cosine similarities (zero rows give 0)."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def mutual_matches(sim: torch.Tensor, threshold: float) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, s)`` where ``j`` is ``i``'s best match, ``i`` is ``j``'s, and ``s >= threshold``.

    Sorted by decreasing similarity.
    """
    if sim.numel() == 0:
        return []
    best_j = sim.argmax(dim=1)
    best_i = sim.argmax(dim=0)
    out = []
    for i, j in enumerate(best_j.tolist()):
        s = float(sim[i, j])
        if best_i[j] == i and s >= threshold:
            out.append((i, j, s))
    return sorted(out, key=lambda t: -t[2])


def cell_centres(grid: tuple[int, int], height: int, width: int) -> torch.Tensor:
    """``N x 2`` pixel ``(x, y)`` centres of the grid cells in an ``height x width`` image."""
    gh, gw = grid
    ys = (torch.arange(gh, dtype=torch.float32) + 0.5) * height / gh
    xs = (torch.arange(gw, dtype=torch.float32) + 0.5) * width / gw
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=1)


def sample_tokens(
    tokens: torch.Tensor, grid: tuple[int, int], points: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Bilinearly sample the token grid at pixel points: ``K x 2`` ``(x, y)`` -> ``K x D``."""
    gh, gw = grid
    fmap = tokens.float().T.reshape(1, -1, gh, gw)
    gx = points[:, 0] / width * 2 - 1
    gy = points[:, 1] / height * 2 - 1
    g = torch.stack([gx, gy], dim=-1).view(1, -1, 1, 2)
    out = F.grid_sample(fmap, g, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, :, 0].T


def transfer_points(
    tokens_a: torch.Tensor,
    grid_a: tuple[int, int],
    size_a: tuple[int, int],
    points: torch.Tensor,
    tokens_b: torch.Tensor,
    grid_b: tuple[int, int],
    size_b: tuple[int, int],
    temperature: float = 0.02,
) -> torch.Tensor:
    """Map pixel points of image A to image B by feature similarity.

    Each point's feature (bilinearly sampled in A) is compared with every token of B; the answer
    is the softmax-weighted mean of B's cell centres (a soft argmax with ``temperature`` on the
    cosine similarity), so a point on a part lands near the centre of the matching region.

    Args:
        size_a, size_b: ``(height, width)`` of the images in pixels.
        points: ``K x 2`` ``(x, y)`` pixels in A.
        temperature: softmax temperature; smaller is closer to a hard argmax.

    Returns:
        ``K x 2`` ``(x, y)`` pixels in B.
    """
    if points.numel() == 0:
        return points.reshape(0, 2).float()
    q = F.normalize(sample_tokens(tokens_a, grid_a, points.float(), *size_a), dim=-1)
    kb = F.normalize(tokens_b.float(), dim=-1)
    weights = torch.softmax(q @ kb.T / temperature, dim=-1)
    return weights @ cell_centres(grid_b, *size_b)
