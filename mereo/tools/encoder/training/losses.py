"""The shared encoder's multi-task losses.

- part kind: class-weighted cross-entropy + 0.5 soft dice on logits upsampled to ``S/2`` pixels;
- object category: cross-entropy of the text-aligned embedding against the category names'
  MiniLM vectors (plus the learned background vector), also at ``S/2``;
- instance grouping: a discriminative pull/push loss on the stride-4 instance embedding;
- correspondence: supervised contrastive loss over sampled pixels (same part kind = positive,
  across objects and images of the batch);
- pooled vector: cross-entropy against the categories the scene shows (soft target).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mereo.tools.encoder.model import EncoderOutput, SynthPartsCNN, upsample
from mereo.tools.encoder.training.data import Batch

#: weight of each loss in the total
WEIGHTS = {"part": 1.0, "dice": 0.5, "cat": 1.0, "inst": 1.0, "corr": 0.5, "pooled": 0.2}
#: pull margin and push margin of the instance loss (embedding units)
DELTA_PULL, DELTA_PUSH = 0.5, 1.5
#: pixels sampled for the correspondence loss per batch, and its temperature
CORR_SAMPLES, CORR_TEMPERATURE = 384, 0.1


def down(labels: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour subsampling of ``B x S x S`` labels, taking each cell's centre pixel."""
    o = factor // 2
    return labels[:, o::factor, o::factor]


def part_losses(logits: torch.Tensor, target: torch.Tensor, background_weight: float = 0.3) -> tuple:
    """Weighted cross-entropy and soft dice (over classes present, background excluded)."""
    w = torch.ones(logits.shape[1], device=logits.device)
    w[0] = background_weight
    ce = F.cross_entropy(logits, target, weight=w)
    prob = logits.softmax(1)
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()
    present = onehot[:, 1:].sum((0, 2, 3)) > 0
    inter = (prob[:, 1:] * onehot[:, 1:]).sum((0, 2, 3))
    denom = prob[:, 1:].sum((0, 2, 3)) + onehot[:, 1:].sum((0, 2, 3))
    dice = 1 - (2 * inter + 1) / (denom + 1)
    dice_loss = dice[present].mean() if present.any() else logits.sum() * 0
    return ce, dice_loss


def _background_weighted(n: int, background_weight: float) -> torch.Tensor:
    w = torch.ones(n)
    w[0] = background_weight
    return w


def instance_loss(emb: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
    """Discriminative loss: pixels within ``DELTA_PULL`` of their object's mean, means
    ``2 * DELTA_PUSH`` apart, per image; ``emb`` ``B x D x h x w``, ``inst`` ``B x h x w``."""
    total = emb.sum() * 0
    n = 0
    for b in range(emb.shape[0]):
        ids = [int(k) for k in torch.unique(inst[b]) if k >= 0]
        if not ids:
            continue
        e = emb[b].flatten(1)  # D x hw
        lab = inst[b].flatten()
        means, pull = [], []
        for k in ids:
            pts = e[:, lab == k]
            mu = pts.mean(1)
            means.append(mu)
            pull.append(F.relu((pts - mu[:, None]).norm(dim=0) - DELTA_PULL).pow(2).mean())
        loss = torch.stack(pull).mean()
        if len(means) > 1:
            m = torch.stack(means)
            d = torch.cdist(m, m)
            off = ~torch.eye(len(means), dtype=torch.bool, device=emb.device)
            loss = loss + F.relu(2 * DELTA_PUSH - d[off]).pow(2).mean()
        loss = loss + 0.001 * torch.stack(means).norm(dim=1).mean()
        total = total + loss
        n += 1
    return total / max(n, 1)


def correspondence_loss(emb: torch.Tensor, part: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Supervised contrastive loss on up to ``CORR_SAMPLES`` part pixels of the batch.

    Args:
        emb: ``B x D x h x w`` L2-normalised embeddings.
        part: ``B x h x w`` part labels (0 = none).
        gen: the generator that picks the pixels.
    """
    d = emb.shape[1]
    flat = emb.permute(0, 2, 3, 1).reshape(-1, d)
    lab = part.reshape(-1)
    idx = torch.nonzero(lab > 0).squeeze(1)
    if idx.numel() < 2:
        return emb.sum() * 0
    if idx.numel() > CORR_SAMPLES:
        idx = idx[torch.randperm(idx.numel(), generator=gen)[:CORR_SAMPLES]]
    z, y = flat[idx], lab[idx]
    sim = z @ z.T / CORR_TEMPERATURE
    eye = torch.eye(len(y), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -1e9)
    pos = (y[:, None] == y[None, :]) & ~eye
    has = pos.any(1)
    if not has.any():
        return emb.sum() * 0
    logp = sim - sim.logsumexp(1, keepdim=True)
    per = -(logp * pos).sum(1) / pos.sum(1).clamp(min=1)
    return per[has].mean()


def pooled_loss(
    model: SynthPartsCNN,
    pooled: torch.Tensor,
    categories: torch.Tensor,
    text: torch.Tensor,
    allowed: torch.Tensor,
) -> torch.Tensor:
    """Cross-entropy of the pooled vector against a uniform target over the scene's categories."""
    logits = model.text_logits(pooled, text, background=False).masked_fill(~allowed, -1e4)  # B x K
    target = torch.zeros_like(logits)
    for b in range(categories.shape[0]):
        cs = categories[b][categories[b] >= 0]
        if len(cs):
            target[b, cs] = 1.0 / len(torch.unique(cs))
    return -(target * logits.log_softmax(1)).sum(1).mean()


def batch_losses(
    model: SynthPartsCNN,
    out: EncoderOutput,
    batch: Batch,
    text: torch.Tensor,
    allowed: torch.Tensor,
    gen: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Every loss of one batch plus their weighted ``total``.

    ``text`` is ``K x 384``: the MiniLM vectors of all category names (index = category index);
    ``allowed`` (``K`` bool) marks the training categories: only they are classes, so the names
    of the ``novel`` split are never seen in training.
    """
    s = batch.images.shape[-1]
    half = (s // 2, s // 2)
    part_t, cat_t = down(batch.part, 2), down(batch.cat, 2)
    ce, dice = part_losses(upsample(out.part, half), part_t)
    mask = torch.cat([torch.ones(1, dtype=torch.bool), allowed])[None, :, None, None]
    # cosine logits at stride 4, then upsampled: the same as upsampling the embedding first
    # (both are linear), at a tenth of the cost
    cat_logits = upsample(model.text_logits(out.sem, text).masked_fill(~mask, -1e4), half)
    losses = {
        "part": ce,
        "dice": dice,
        "cat": F.cross_entropy(cat_logits, cat_t, weight=_background_weighted(cat_logits.shape[1], 0.3)),
        "inst": instance_loss(out.inst, down(batch.inst, 4)),
        "corr": correspondence_loss(out.corr, down(batch.part, 4), gen),
        "pooled": pooled_loss(model, out.pooled, batch.categories, text, allowed),
    }
    losses["total"] = sum((WEIGHTS[k] * v for k, v in losses.items()), torch.zeros(()))
    return losses
