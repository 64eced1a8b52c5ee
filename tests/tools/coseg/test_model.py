"""Calico-small's network: shapes, task and pair conditioning, the batched SAM decoder, the loss."""

from __future__ import annotations

import torch

from mereo.tools.coseg.model import CalicoConfig, CalicoSmall
from mereo.tools.coseg.training.data import PairBatch
from mereo.tools.coseg.training.losses import coseg_loss, dice_loss, mask_iou

CFG = CalicoConfig(
    clip_dim=12,
    dino_dim=10,
    clip_grid=4,
    grid=8,
    dim=32,
    heads=2,
    num_queries=6,
    num_parts=3,
    pair_layers=1,
    part_layers=1,
    decoder_depth=1,
    label_dim=16,
)


def _inputs(b: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, 2, 16, 12, generator=g),
        torch.randn(b, 2, 64, 10, generator=g),
        torch.rand(b, 2, 3, CFG.mask_side, CFG.mask_side, generator=g),
    )


def test_shapes_of_encode_classify_segment() -> None:
    torch.manual_seed(0)
    model = CalicoSmall(CFG).eval()
    clip, dino, pix = _inputs()
    enc = model.encode(clip, dino, pix, torch.tensor([0, 2]))
    assert enc.embedding.shape == (4, 32, 8, 8)
    assert enc.joint.shape == (4, 1 + 2 * 6, 32)
    assert model.classify(enc, torch.randn(7, 16)).shape == (4, 7, 2)
    masks, quality = model.segment(enc, torch.randn(4, 5, 16))
    assert masks.shape == (4, 5, 32, 32) and quality.shape == (4, 5)
    sub = enc.select(torch.tensor([1, 3]))
    assert torch.allclose(
        model.classify(sub, torch.ones(2, 16)), model.classify(enc, torch.ones(2, 16))[[1, 3]], atol=1e-5
    )


def test_answer_probs_follow_the_set_definitions() -> None:
    # one pair, two names; logits: image 0 sees name 0, image 1 has (but does not show) name 0
    big = 20.0
    logits = torch.full((2, 2, 2), -big)
    logits[0, 0] = big  # image 0: name 0 visible and had
    logits[1, 0, 1] = big  # image 1: name 0 had, not visible
    logits[1, 1] = big  # image 1: name 1 visible and had
    common = CalicoSmall.answer_probs(logits, "common_parts")
    unique = CalicoSmall.answer_probs(logits, "unique_parts")
    objects = CalicoSmall.answer_probs(logits, "common_objects")
    assert common.shape == (1, 2, 2)
    assert common[0, 0, 0] > 0.99 and unique[0, 0, 0] < 0.01  # name 0 is common for image 0
    assert unique[0, 1, 1] > 0.99 and common[0, 1, 1] < 0.01  # name 1 is unique to image 1
    assert objects.max() < 0.01  # nothing is visible in both images


def test_task_and_the_other_image_change_the_answer() -> None:
    torch.manual_seed(0)
    model = CalicoSmall(CFG).eval()
    clip, dino, pix = _inputs(1)
    vocab = torch.randn(4, 16)
    with torch.no_grad():
        a = model.classify(model.encode(clip, dino, pix, torch.tensor([1])), vocab)
        b = model.classify(model.encode(clip, dino, pix, torch.tensor([2])), vocab)
        other = clip.clone()
        other[:, 1] = torch.randn_like(other[:, 1])
        c = model.classify(model.encode(other, dino, pix, torch.tensor([1])), vocab)
    assert not torch.allclose(a, b)
    assert not torch.allclose(a[0], c[0])  # image 0's answer depends on image 1 (pair reasoning)


def test_dice_and_iou_of_perfect_and_wrong_masks() -> None:
    t = torch.zeros(2, 16)
    t[0, :8] = 1
    t[1, 8:] = 1
    good, bad = t * 20 - 10, (t * 20 - 10).flip(0)
    assert dice_loss(good, t) < 0.01 < 0.9 < dice_loss(bad, t)
    assert mask_iou(good, t).tolist() == [1.0, 1.0] and mask_iou(bad, t).tolist() == [0.0, 0.0]


def test_loss_decreases_when_overfitting_one_batch() -> None:
    torch.manual_seed(0)
    model = CalicoSmall(CFG)
    clip, dino, pix = _inputs()
    side = CFG.mask_side
    m = torch.zeros(1, side, side)
    m[:, 4:20, 4:20] = 1
    none = (torch.tensor([], dtype=torch.long), torch.zeros(0, side, side))
    pres = [
        [(torch.tensor([1, 2]), torch.tensor([1, 2, 4])), (torch.tensor([3]), torch.tensor([3]))],
        [(torch.tensor([0]), torch.tensor([0])), (torch.tensor([0, 1]), torch.tensor([0, 1]))],
    ]
    batch = PairBatch(
        clip,
        dino,
        pix,
        torch.tensor([1, 0]),
        [[(torch.tensor([1]), m), (torch.tensor([3]), 1 - m)], [none, (torch.tensor([0]), m)]],
        [],
        presence=pres,
    )
    vocab = {
        "part": torch.nn.functional.normalize(torch.randn(5, 16), dim=-1),
        "object": torch.nn.functional.normalize(torch.randn(3, 16), dim=-1),
    }
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss, parts = coseg_loss(model, batch, vocab)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(parts["total"])
    assert set(parts) >= {"label", "bce", "dice", "quality", "total"}
    assert losses[-1] < 0.5 * losses[0]
