"""Quick validation of the shared encoder on a fixed set of scenes (one forward pass per scene).

Metrics (all in [0, 1]):
- ``part_miou``: mean IoU of the part-kind head over part kinds present (``S/2`` pixels);
- ``cat_acc``: pixel accuracy of the object-category head on object pixels;
- ``rec_top1``: per object, the mean object embedding over its gold mask names it (train names);
- ``novel5``: the same on the ``novel`` split among the 5 novel names (objects of novel categories);
- ``inst_acc``: in scenes with several objects, share of object pixels whose instance embedding
  is nearest to their own object's mean;
- ``corr_nn``: per visible part, the nearest part of another image by mean correspondence
  embedding has the same part kind.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mereo.tools.encoder.model import EncoderOutput, SynthPartsCNN, upsample
from mereo.tools.encoder.training.data import Batch
from mereo.tools.encoder.training.losses import down


@torch.no_grad()
def forward_all(model: SynthPartsCNN, batch: Batch, chunk: int = 16) -> EncoderOutput:
    """Eval-mode forward of a batch in chunks; outputs concatenated."""
    was = model.training
    model.eval()
    outs = [model(batch.images[i : i + chunk]) for i in range(0, len(batch), chunk)]
    model.train(was)
    return EncoderOutput(
        *(torch.cat([getattr(o, f) for o in outs]) for f in EncoderOutput.__dataclass_fields__)
    )


def _object_embeddings(sem: torch.Tensor, batch: Batch, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean object embedding per gold object: ``N x D`` and their category indices ``N``."""
    emb = upsample(sem, (size, size))
    inst = down(batch.inst, batch.images.shape[-1] // size)
    vecs, cats = [], []
    for b in range(len(batch)):
        for k in range(batch.categories.shape[1]):
            c = int(batch.categories[b, k])
            on = inst[b] == k
            if c < 0 or not on.any():
                continue
            vecs.append(F.normalize(emb[b][:, on].mean(1), dim=0))
            cats.append(c)
    if not vecs:
        return torch.zeros(0, sem.shape[1]), torch.zeros(0, dtype=torch.long)
    return torch.stack(vecs), torch.tensor(cats)


def part_iou(part_logits: torch.Tensor, batch: Batch) -> float:
    s = batch.images.shape[-1] // 2
    pred = upsample(part_logits, (s, s)).argmax(1)
    gold = down(batch.part, 2)
    ious = []
    for c in torch.unique(gold):
        if c == 0:
            continue
        p, g = pred == c, gold == c
        ious.append(float((p & g).sum()) / max(float((p | g).sum()), 1.0))
    return float(sum(ious) / len(ious)) if ious else 0.0


def instance_accuracy(inst_emb: torch.Tensor, batch: Batch) -> float:
    inst = down(batch.inst, 4)
    right = total = 0
    for b in range(len(batch)):
        ids = [int(k) for k in torch.unique(inst[b]) if k >= 0]
        if len(ids) < 2:
            continue
        e = inst_emb[b].flatten(1).T  # hw x D
        lab = inst[b].flatten()
        means = torch.stack([e[lab == k].mean(0) for k in ids])
        on = lab >= 0
        nearest = torch.cdist(e[on], means).argmin(1)
        right += int((torch.tensor(ids)[nearest] == lab[on]).sum())
        total += int(on.sum())
    return right / max(total, 1)


def correspondence_nn(corr: torch.Tensor, batch: Batch) -> float:
    part, inst = down(batch.part, 4), down(batch.inst, 4)
    vecs, labels, images = [], [], []
    for b in range(len(batch)):
        for k in [int(k) for k in torch.unique(inst[b]) if k >= 0]:
            for p in [int(p) for p in torch.unique(part[b][inst[b] == k]) if p > 0]:
                on = (inst[b] == k) & (part[b] == p)
                vecs.append(F.normalize(corr[b][:, on].mean(1), dim=0))
                labels.append(p)
                images.append(b)
    if len(vecs) < 2:
        return 0.0
    z, y, im = torch.stack(vecs), torch.tensor(labels), torch.tensor(images)
    sim = (z @ z.T).masked_fill(im[:, None] == im[None, :], -2.0)
    has = ((y[:, None] == y[None, :]) & (im[:, None] != im[None, :])).any(1)
    nn_lab = y[sim.argmax(1)]
    return float((nn_lab[has] == y[has]).float().mean()) if has.any() else 0.0


def validate(
    model: SynthPartsCNN,
    val: Batch,
    text: torch.Tensor,
    allowed: torch.Tensor,
    novel: Batch | None = None,
    novel_ids: list[int] | None = None,
) -> dict[str, float]:
    """All metrics of the module docstring (``novel5`` only with ``novel`` and ``novel_ids``)."""
    out = forward_all(model, val)
    s = val.images.shape[-1] // 2
    mask = torch.cat([torch.ones(1, dtype=torch.bool), allowed])[None, :, None, None]
    cat_pred = upsample(model.text_logits(out.sem, text).masked_fill(~mask, -1e4), (s, s)).argmax(1)
    gold_cat = down(val.cat, 2)
    on = gold_cat > 0
    vecs, cats = _object_embeddings(out.sem, val, s)
    logits = (vecs @ text.T).masked_fill(~allowed[None], -1e4)
    metrics = {
        "part_miou": part_iou(out.part, val),
        "cat_acc": float((cat_pred[on] == gold_cat[on]).float().mean()) if on.any() else 0.0,
        "rec_top1": float((logits.argmax(1) == cats).float().mean()) if len(cats) else 0.0,
        "inst_acc": instance_accuracy(out.inst, val),
        "corr_nn": correspondence_nn(out.corr, val),
    }
    if novel is not None and novel_ids:
        nout = forward_all(model, novel)
        nv, nc = _object_embeddings(nout.sem, novel, s)
        ids = torch.tensor(novel_ids)
        keep = (nc[:, None] == ids[None]).any(1)
        if keep.any():
            pred = ids[(nv[keep] @ text[ids].T).argmax(1)]
            metrics["novel5"] = float((pred == nc[keep]).float().mean())
    return {k: round(v, 4) for k, v in metrics.items()}
