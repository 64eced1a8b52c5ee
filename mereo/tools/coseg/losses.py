"""Set prediction losses of Calico-small: Hungarian matching of part queries to gold masks.

For each image of each pair, the ``K`` part queries are matched one-to-one to the ``G <= K`` gold
masks (DETR style) with a cost mixing label similarity, mask dice and mask BCE. Matched queries
learn their mask (BCE + dice), their label (cross-entropy over the vocabulary's MiniLM
embeddings, i.e. a contrastive loss) and an objectness of 1; the others an objectness of 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from mereo.tools.coseg.model import CosegOutput


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms and of the matching cost."""

    mask_bce: float = 2.0
    mask_dice: float = 1.0
    label: float = 1.0
    objectness: float = 1.0
    quality: float = 0.5
    temperature: float = 0.05
    cost_label: float = 2.0
    cost_dice: float = 1.0
    cost_bce: float = 1.0
    cost_objectness: float = 1.0


def dice_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pairwise ``1 - dice``: ``K x P`` logits vs ``G x P`` targets -> ``K x G``."""
    p = logits.sigmoid()
    num = 2 * p @ targets.T
    den = p.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (num + 1) / (den + 1)


def bce_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pairwise mean BCE: ``K x P`` logits vs ``G x P`` targets -> ``K x G``."""
    pos = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
    neg = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none")
    return (pos @ targets.T + neg @ (1 - targets).T) / logits.shape[-1]


def soft_iou(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """IoU of thresholded predictions (``logits > 0``) and targets (``> 0.5``), row by row."""
    p = logits > 0
    t = targets > 0.5
    inter = (p & t).sum(-1).float()
    union = (p | t).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def coseg_loss(out: CosegOutput, targets: list[list[tuple[torch.Tensor, torch.Tensor]]],
               vocab: dict[int, torch.Tensor], task: torch.Tensor,
               w: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss of a batch and its parts (for logging).

    Args:
        out: the model's outputs for ``B`` pairs.
        targets: per pair, per image, ``(label indices G, masks G x M x M)``.
        vocab: task index -> ``V x 384`` label embeddings of the vocabulary of that task's kind.
        task: ``B`` task indices.
    """
    b, _, k, m, _ = out.mask_logits.shape
    obj_target = torch.zeros_like(out.objectness)
    mask_logits, mask_targets, lab_pred, lab_target, qual_pred = [], [], [], [], []
    for bi in range(b):
        emb = vocab[int(task[bi])]
        for side in (0, 1):
            labels, masks = targets[bi][side]
            if labels.numel() == 0:
                continue
            logits = out.mask_logits[bi, side].reshape(k, m * m)
            tgt = masks.reshape(-1, m * m)
            lab = out.label_embeddings[bi, side]
            with torch.no_grad():
                sim = lab @ emb[labels].T
                cost = (w.cost_label * (1 - sim) + w.cost_dice * dice_cost(logits, tgt)
                        + w.cost_bce * bce_cost(logits, tgt)
                        - w.cost_objectness * out.objectness[bi, side].sigmoid()[:, None])
                rows, cols = linear_sum_assignment(cost.numpy())
            rows_t, cols_t = torch.as_tensor(rows), torch.as_tensor(cols)
            obj_target[bi, side, rows_t] = 1.0
            mask_logits.append(logits[rows_t])
            mask_targets.append(tgt[cols_t])
            lab_pred.append(lab[rows_t] @ emb.T / w.temperature)
            lab_target.append(labels[cols_t])
            qual_pred.append(out.quality[bi, side, rows_t])
    obj_loss = F.binary_cross_entropy_with_logits(out.objectness, obj_target)
    parts = {"objectness": float(obj_loss.detach())}
    total = w.objectness * obj_loss
    if mask_logits:
        ml, mt = torch.cat(mask_logits), torch.cat(mask_targets)
        bce = F.binary_cross_entropy_with_logits(ml, mt)
        p = ml.sigmoid()
        dice = (1 - (2 * (p * mt).sum(-1) + 1) / (p.sum(-1) + mt.sum(-1) + 1)).mean()
        label_loss = torch.cat([F.cross_entropy(lp, lt, reduction="none")
                                for lp, lt in zip(lab_pred, lab_target, strict=True)]).mean()
        qual = F.mse_loss(torch.cat(qual_pred).sigmoid(), soft_iou(ml.detach(), mt))
        total = total + w.mask_bce * bce + w.mask_dice * dice + w.label * label_loss + w.quality * qual
        parts.update(bce=float(bce.detach()), dice=float(dice.detach()), label=float(label_loss.detach()),
                     quality=float(qual.detach()))
    parts["total"] = float(total.detach())
    return total, parts
