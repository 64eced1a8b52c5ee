"""Training losses of PLUM-small: B/I/O cross-entropy, focal-Tversky and BCE on masks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: class weights of the B/I/O cross-entropy (O, B, I): O is by far the most frequent tag.
BIO_WEIGHTS = (0.1, 1.0, 1.0)


def bio_loss(logits: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
    """Weighted cross-entropy of ``B x T x 3`` logits against ``B x T`` tags (-100 = ignore)."""
    weight = torch.tensor(BIO_WEIGHTS, device=logits.device, dtype=logits.dtype)
    return F.cross_entropy(logits.reshape(-1, 3), tags.reshape(-1), weight=weight, ignore_index=-100)


def focal_tversky_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.7,
    beta: float = 0.3,
    gamma: float = 0.75,
    smooth: float = 1.0,
) -> torch.Tensor:
    """Focal-Tversky loss per mask.

    ``TI = (TP + s) / (TP + alpha FN + beta FP + s)``, loss ``(1 - TI) ** gamma``; alpha > beta
    weighs missed pixels more (recall-biased), as in PLUM. An empty target with an empty
    prediction gives loss 0; any false positive on an empty target is penalised.

    Args:
        logits: ``N x H x W`` mask logits.
        target: ``N x H x W`` 0/1 float.

    Returns:
        ``N`` losses.
    """
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    tp = (p * t).sum(1)
    fn = ((1 - p) * t).sum(1)
    fp = (p * (1 - t)).sum(1)
    ti = (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)
    return (1 - ti).clamp(min=0).pow(gamma)


def mask_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel BCE per mask: ``N x H x W`` -> ``N``."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).mean(1)
