"""Training losses of PLUM-small: B/I/O cross-entropy, focal-Tversky and BCE on masks, the
encoder's auxiliary dense losses, and all of them for one batch (:func:`batch_losses`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mereo.tools.segment.model import ImageFeatures, PlumSmall
from mereo.tools.segment.training.batches import Batch

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


#: Weight of the background class in the auxiliary dense cross-entropies (parts, objects).
AUX_BACKGROUND_WEIGHT = (0.1, 0.2)


def dense_loss(logits: torch.Tensor, labels: torch.Tensor, background_weight: float) -> torch.Tensor:
    """Cross-entropy of ``B x C x h x w`` class logits against ``B x S x S`` labels, at ``2h x 2w``."""
    size = (logits.shape[-2] * 2, logits.shape[-1] * 2)
    up = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    lab = F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()
    weight = torch.ones(logits.shape[1], dtype=logits.dtype, device=logits.device)
    weight[0] = background_weight
    return F.cross_entropy(up, lab, weight=weight)


def aux_losses(
    model: PlumSmall, image: ImageFeatures, part_maps: torch.Tensor, object_maps: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The auxiliary dense losses of the image encoder (part classes, object classes at half weight)."""
    parts, objects = model.dense_logits(image)
    return {
        "aux_parts": dense_loss(parts, part_maps, AUX_BACKGROUND_WEIGHT[0]),
        "aux_objects": dense_loss(objects, object_maps, AUX_BACKGROUND_WEIGHT[1]) * 0.5,
    }


def batch_losses(model: PlumSmall, b: Batch) -> dict[str, torch.Tensor]:
    """The three training losses (plus the presence BCE and the auxiliary dense losses)."""
    tag_logits = model.tag(b.tokens, b.attention)
    emb = model.encode_image(b.images)
    queries = model.span_queries(b.tokens, b.span_index)
    masks, presence = model.decode_all(emb, queries, context=model.context(b.tokens, b.attention))
    act = b.active
    logits = masks[act]
    # soft targets at the logits' size
    tgt = F.adaptive_avg_pool2d(b.targets[act], (logits.shape[-2], logits.shape[-1]))
    nonempty = (b.targets[act].flatten(1).amax(1) > 0).float()
    losses = {
        "bio": bio_loss(tag_logits, b.tags),
        "tversky": focal_tversky_loss(logits, tgt).mean(),
        "bce": mask_bce(logits, tgt).mean() * 2.0,
        "presence": F.binary_cross_entropy_with_logits(presence[act], nonempty) * 0.5,
    }
    if model.dense_head is not None:
        losses.update(aux_losses(model, emb, b.part_maps, b.object_maps))
    return losses
