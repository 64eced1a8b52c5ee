"""Part descriptors, similarity, mutual matches and point transfer on hand-built features."""

from __future__ import annotations

import numpy as np
import torch

from mereo.tools.correspond.matching import (
    cell_centres,
    cosine_matrix,
    mask_weights,
    mutual_matches,
    part_descriptors,
    sample_tokens,
    transfer_points,
)


def _two_region_tokens(grid=(4, 4), left=(1.0, 0.0), right=(0.0, 1.0)) -> torch.Tensor:
    """Tokens whose left half is one vector and right half another."""
    gh, gw = grid
    t = torch.zeros(gh, gw, 2)
    t[:, : gw // 2] = torch.tensor(left)
    t[:, gw // 2 :] = torch.tensor(right)
    return t.reshape(-1, 2)


def test_mask_weights_are_cell_coverage():
    mask = np.zeros((8, 8), bool)
    mask[:4, :2] = True  # half of the top-left 4x4 cell
    w = mask_weights(mask, (2, 2))
    assert torch.allclose(w, torch.tensor([0.5, 0.0, 0.0, 0.0]))


def test_part_descriptors_pick_the_region_and_zero_for_empty():
    tokens = _two_region_tokens()
    left = np.zeros((16, 16), bool)
    left[:, :8] = True
    empty = np.zeros((16, 16), bool)
    d = part_descriptors(tokens, [left, empty], (4, 4))
    assert torch.allclose(d[0], torch.tensor([1.0, 0.0]), atol=1e-6)
    assert torch.count_nonzero(d[1]) == 0


def test_mutual_matches_need_both_directions_and_threshold():
    sim = torch.tensor([[0.9, 0.1], [0.8, 0.3]])
    # row 1's best is column 0, but column 0's best is row 0: only (0, 0) is mutual
    assert mutual_matches(sim, 0.5) == [(0, 0, sim[0, 0].item())]
    assert mutual_matches(sim, 0.95) == []
    assert mutual_matches(torch.zeros(0, 3), 0.5) == []


def test_cosine_matrix_shape_and_range():
    a, b = torch.randn(3, 5), torch.randn(4, 5)
    s = cosine_matrix(a, b)
    assert s.shape == (3, 4) and s.abs().max() <= 1 + 1e-6


def test_sample_tokens_reads_the_right_cell():
    tokens = torch.arange(16, dtype=torch.float32).reshape(16, 1)
    centres = cell_centres((4, 4), 32, 32)
    out = sample_tokens(tokens, (4, 4), centres, 32, 32)
    assert torch.allclose(out.flatten(), tokens.flatten(), atol=1e-5)


def test_transfer_points_lands_in_the_matching_region():
    a = _two_region_tokens()
    b = _two_region_tokens(left=(0.0, 1.0), right=(1.0, 0.0))  # mirrored image
    pts = torch.tensor([[4.0, 8.0], [28.0, 8.0]])  # left and right half of A (32 x 32)
    out = transfer_points(a, (4, 4), (32, 32), pts, b, (4, 4), (32, 32), temperature=0.01)
    assert out[0, 0] > 16 and out[1, 0] < 16
    assert transfer_points(a, (4, 4), (32, 32), torch.zeros(0, 2), b, (4, 4), (32, 32)).shape == (0, 2)
