"""Training losses of PLUM-small."""

from __future__ import annotations

import torch

from mereo.tools.segment.training.losses import bio_loss, focal_tversky_loss, mask_bce


def test_losses() -> None:
    target = torch.zeros(2, 16, 16)
    target[0, 4:8, 4:8] = 1
    perfect = (target * 2 - 1) * 20
    assert focal_tversky_loss(perfect, target).max() < 1e-3
    assert focal_tversky_loss(-perfect, target)[0] > 0.9
    assert focal_tversky_loss(torch.full((2, 16, 16), 5.0), target)[1] > 0.9  # false positives on empty
    # recall-biased: missing pixels cost more than the same number of extra pixels
    miss, extra = torch.full((1, 16, 16), -20.0), torch.full((1, 16, 16), -20.0)
    t = torch.zeros(1, 16, 16)
    t[0, :8, :8] = 1
    miss[0, :8, :4] = 20
    extra[0, :8, :12] = 20
    assert focal_tversky_loss(miss, t) > focal_tversky_loss(extra, t)
    assert mask_bce(perfect, target).max() < 1e-3
    logits = torch.zeros(1, 3, 3)
    logits[0, 0, 1] = logits[0, 1, 0] = logits[0, 2, 2] = 10
    assert bio_loss(logits, torch.tensor([[1, 0, 2]])) < 1e-3
    assert bio_loss(logits, torch.tensor([[-100, 0, 2]])) < 1e-3
