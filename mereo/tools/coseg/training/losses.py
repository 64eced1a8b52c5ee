"""Training losses of Calico-small.

Two supervised terms per image, no matching needed:

- which labels: binary cross-entropy of every vocabulary name's two logits (visible in the
  image; had by its main object) over the names of the task's kind (object names for common
  objects, part names otherwise), positives up-weighted; the task's answer follows from them;
- where: each gold label (and, when the batch has them, visible names outside the answer)
  prompts the mask decoder (teacher forcing); its mask is trained with BCE + dice against the
  gold mask, and the decoder's IoU head with the achieved IoU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mereo.tools.coseg.model import CalicoSmall
from mereo.tools.coseg.training.data import PairBatch


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms."""

    label: float = 1.0
    label_pos_weight: float = 4.0
    mask_bce: float = 2.0
    mask_dice: float = 1.0
    quality: float = 0.5


def dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - dice`` of ``N x P`` logits against ``N x P`` targets in ``[0, 1]``."""
    p = logits.sigmoid()
    return (1 - (2 * (p * targets).sum(-1) + 1) / (p.sum(-1) + targets.sum(-1) + 1)).mean()


def mask_iou(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """IoU of ``logits > 0`` with ``targets > 0.5``, row by row (``N x P`` -> ``N``)."""
    p, t = logits > 0, targets > 0.5
    inter = (p & t).sum(-1).float()
    union = (p | t).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def image_kinds(task: torch.Tensor) -> list[str]:
    """Per image (pair-major, 2 per pair): ``"object"`` for common objects, else ``"part"``."""
    return ["object" if int(t) == 0 else "part" for t in task for _ in (0, 1)]


def coseg_loss(
    model: CalicoSmall, batch: PairBatch, vocab: dict[str, torch.Tensor], w: LossWeights = LossWeights()
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss of a batch and its parts (floats, for logging).

    Args:
        model: the network.
        batch: pairs with targets (label indices into ``vocab[kind]`` and ``M x M`` masks).
        vocab: ``"object"`` / ``"part"`` -> ``V x 384`` MiniLM embeddings of the names.
    """
    enc = model.encode(batch.clip, batch.dino, batch.pixels, batch.task)
    kinds = image_kinds(batch.task)
    flat = [t for pair in batch.targets for t in pair]  # 2B x (labels, masks)
    cls_terms = []
    if batch.presence is None:
        raise ValueError("the batch has no presence targets; build it with PairSampler.make_batch")
    pres = [t for pair in batch.presence for t in pair]  # 2B x (visible, had)
    for kind in sorted(set(kinds)):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        logits = model.classify(enc.select(torch.tensor(idx)), vocab[kind])  # n x V x 2
        target = torch.zeros_like(logits)
        for row, i in enumerate(idx):
            target[row, pres[i][0], 0] = 1.0
            target[row, pres[i][1], 1] = 1.0
        pos = torch.full((logits.shape[1], 2), w.label_pos_weight)
        cls_terms.append(
            F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos, reduction="sum")
            / logits.numel()
        )
    cls_loss = torch.stack(cls_terms).sum()
    total = w.label * cls_loss
    parts = {"label": float(cls_loss.detach())}
    if batch.extra is not None:  # non-answer names: mask supervision only
        more = [t for pair in batch.extra for t in pair]
        flat = [(torch.cat([a[0], b[0]]), torch.cat([a[1], b[1]])) for a, b in zip(flat, more, strict=True)]
    k = max(len(t[0]) for t in flat)
    if k > 0:
        side = batch.pixels.shape[-1]
        queries = torch.zeros(len(flat), k, vocab["part"].shape[1])
        valid = torch.zeros(len(flat), k, dtype=torch.bool)
        target_masks = torch.zeros(len(flat), k, side * side)
        for i, (labels, masks) in enumerate(flat):
            n = len(labels)
            if n:
                queries[i, :n] = vocab[kinds[i]][labels]
                valid[i, :n] = True
                target_masks[i, :n] = masks.reshape(n, -1)
        mask_logits, quality = model.segment(enc, queries)
        ml = mask_logits.reshape(len(flat), k, -1)[valid]
        mt = target_masks[valid]
        bce = F.binary_cross_entropy_with_logits(ml, mt)
        dice = dice_loss(ml, mt)
        qual = F.mse_loss(quality[valid].sigmoid(), mask_iou(ml.detach(), mt))
        total = total + w.mask_bce * bce + w.mask_dice * dice + w.quality * qual
        parts.update(bce=float(bce.detach()), dice=float(dice.detach()), quality=float(qual.detach()))
    parts["total"] = float(total.detach())
    return total, parts
