"""Calico-small's network: shapes, task conditioning, the batched SAM decoder, and the loss."""

from __future__ import annotations

import torch

from mereo.tools.coseg.losses import coseg_loss, dice_cost
from mereo.tools.coseg.model import CalicoConfig, CalicoSmall

CFG = CalicoConfig(clip_dim=12, dino_dim=10, clip_grid=4, grid=8, dim=32, heads=2, num_queries=6, num_parts=3,
                   pair_layers=1, part_layers=1, decoder_depth=1, label_dim=16)


def _inputs(b: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 2, 16, 12, generator=g), torch.randn(b, 2, 64, 10, generator=g),
            torch.rand(b, 2, 3, CFG.mask_side, CFG.mask_side, generator=g))


def test_output_shapes_and_label_norm() -> None:
    torch.manual_seed(0)
    model = CalicoSmall(CFG).eval()
    clip, dino, pix = _inputs()
    out = model(clip, dino, pix, torch.tensor([0, 2]))
    assert out.mask_logits.shape == (2, 2, 3, 32, 32)
    assert out.objectness.shape == out.quality.shape == (2, 2, 3)
    assert out.label_embeddings.shape == (2, 2, 3, 16)
    assert torch.allclose(out.label_embeddings.norm(dim=-1), torch.ones(2, 2, 3), atol=1e-5)


def test_task_and_the_other_image_change_the_answer() -> None:
    torch.manual_seed(0)
    model = CalicoSmall(CFG).eval()
    clip, dino, pix = _inputs(1)
    with torch.no_grad():
        a = model(clip, dino, pix, torch.tensor([1])).mask_logits
        b = model(clip, dino, pix, torch.tensor([2])).mask_logits
        other = clip.clone()
        other[:, 1] = torch.randn_like(other[:, 1])
        c = model(other, dino, pix, torch.tensor([1])).mask_logits
    assert not torch.allclose(a, b)
    assert not torch.allclose(a[:, 0], c[:, 0])  # image 0's masks depend on image 1 (pair reasoning)


def test_dice_cost_prefers_the_matching_mask() -> None:
    t = torch.zeros(2, 16)
    t[0, :8] = 1
    t[1, 8:] = 1
    logits = (t * 20 - 10).flip(0)  # prediction 0 is gold 1, prediction 1 is gold 0
    cost = dice_cost(logits, t)
    assert cost[0, 1] < cost[0, 0] and cost[1, 0] < cost[1, 1]


def test_loss_decreases_when_overfitting_one_batch() -> None:
    torch.manual_seed(0)
    model = CalicoSmall(CFG)
    clip, dino, pix = _inputs()
    task = torch.tensor([1, 2])
    vocab = torch.nn.functional.normalize(torch.randn(5, 16), dim=-1)
    side = CFG.mask_side
    m = torch.zeros(1, side, side)
    m[:, 4:20, 4:20] = 1
    targets = [[(torch.tensor([1]), m), (torch.tensor([3]), 1 - m)], [(torch.tensor([], dtype=torch.long),
                                                                       torch.zeros(0, side, side)),
                                                                      (torch.tensor([0]), m)]]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        out = model(clip, dino, pix, task)
        loss, parts = coseg_loss(out, targets, {1: vocab, 2: vocab}, task)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(parts["total"])
    assert set(parts) >= {"objectness", "bce", "dice", "label", "quality", "total"}
    assert losses[-1] < 0.5 * losses[0]
