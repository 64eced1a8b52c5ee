"""Objects of an encoded image: foreground from the object embedding, instances from the instance
embedding, names from the object embedding against MiniLM name vectors.

All work happens on the ``S/4 x S/4`` grid of the encoder (32 x 32 for a 128-pixel input), then
masks are brought to the image's own pixels: each foreground pixel goes to the nearest instance
centre of the bilinearly upsampled instance embedding. Given the image, the background and
instance scores are refined at its pixels instead, guided by its colours
(:mod:`mereo.tools.encoder.refine`), so object outlines follow the image's edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mereo.tools.encoder.refine import DEFAULT as DEFAULT_REFINE
from mereo.tools.encoder.refine import best_class, cached_weights
from mereo.tools.encoder.runtime import Encoded, SharedEncoder

#: cells within this distance of an instance centre join it (the push margin: means are trained
#: to lie 2 x 1.5 apart)
RADIUS = 1.5
#: clusters whose centres are closer than this are one object (means of two objects are pushed
#: 2 x 1.5 apart in training)
MERGE_DISTANCE = 2.0
#: instances smaller than this many grid cells are dropped
MIN_CELLS = 4
#: most instances returned
MAX_INSTANCES = 8


@dataclass
class Instance:
    """One object found in an image.

    Attributes:
        cells: ``h x w`` bool grid cells of the object.
        mask: ``H x W`` bool mask in image pixels.
        embedding: ``text_dim`` L2-normalised mean object embedding (for naming).
        centre: ``inst_dim`` centre of the instance embedding.
    """

    cells: torch.Tensor
    mask: np.ndarray
    embedding: torch.Tensor
    centre: torch.Tensor


def object_logits(encoder: SharedEncoder, enc: Encoded, names: list[str] | None = None) -> torch.Tensor:
    """``(1 + K) x h x w`` logits of background and each name (the encoder's categories by default)."""
    from mereo.tools.encoder.text import name_embeddings

    text = name_embeddings(names or encoder.category_names)
    return encoder.model.text_logits(enc.sem[None], text)[0]


def foreground(encoder: SharedEncoder, enc: Encoded, names: list[str] | None = None) -> torch.Tensor:
    """``h x w`` bool: cells whose object embedding is nearer some object name than background."""
    return best_class(object_logits(encoder, enc, names)) > 0


def cluster(emb: torch.Tensor, fg: torch.Tensor) -> list[torch.Tensor]:
    """Greedy mean-shift of the foreground cells' instance embeddings.

    Args:
        emb: ``D x h x w`` instance embedding.
        fg: ``h x w`` bool foreground.

    Returns:
        per instance an ``h x w`` bool cell mask, largest first.
    """
    idx = torch.nonzero(fg.flatten()).squeeze(1)
    if idx.numel() == 0:
        return []
    pts = emb.flatten(1).T[idx]  # N x D
    dist = torch.cdist(pts, pts)
    free = torch.ones(len(idx), dtype=torch.bool)
    groups: list[torch.Tensor] = []
    while free.sum() >= MIN_CELLS and len(groups) < MAX_INSTANCES:
        density = ((dist < RADIUS) & free[None]).sum(1).masked_fill(~free, -1)
        centre = pts[int(density.argmax())]
        for _ in range(5):
            near = ((pts - centre).norm(dim=1) < RADIUS) & free
            if not near.any():
                break
            centre = pts[near].mean(0)
        members = ((pts - centre).norm(dim=1) < RADIUS) & free
        free &= ~members
        if members.sum() < MIN_CELLS:
            continue
        cells = torch.zeros(fg.numel(), dtype=torch.bool)
        cells[idx[members]] = True
        groups.append(cells.view_as(fg))
    return sorted(merge(emb, groups), key=lambda g: -int(g.sum()))


def merge(emb: torch.Tensor, groups: list[torch.Tensor]) -> list[torch.Tensor]:
    """Join clusters whose mean embeddings are closer than :data:`MERGE_DISTANCE` (closest first)."""
    groups = list(groups)
    while len(groups) > 1:
        centres = torch.stack([emb[:, g].mean(1) for g in groups])
        d = torch.cdist(centres, centres).fill_diagonal_(float("inf"))
        i, j = divmod(int(d.argmin()), len(groups))
        if float(d[i, j]) >= MERGE_DISTANCE:
            break
        groups[i] = groups[i] | groups[j]
        del groups[j]
    return groups


def pixel_instances(
    logits: torch.Tensor,
    inst: torch.Tensor,
    centres: torch.Tensor,
    image: np.ndarray,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """``H x W`` long: 0 for background, ``1 + k`` for instance ``k``, refined at the image's pixels.

    A cell's score of instance ``k`` is ``log P(object) + log softmax_k(-|e - c_k|^2)`` and of
    background ``log P(background)``, from the object ``logits`` (``(1 + K) x h x w``) and the
    instance embedding ``inst`` (``D x h x w``) against the ``centres`` (``N x D``); ``weights``:
    the image's cached colour weights (:func:`~mereo.tools.encoder.refine.cached_weights`).
    """
    from mereo.tools.encoder.refine import refine

    logp = logits.log_softmax(0)
    d2 = ((inst.flatten(1).T[:, None, :] - centres[None]) ** 2).sum(-1)  # hw x N
    assign = (-d2).log_softmax(1).T.reshape(len(centres), *inst.shape[-2:])
    scores = torch.cat([logp[:1], torch.logsumexp(logp[1:], 0, keepdim=True) + assign], 0)
    return best_class(refine(scores, image, weights=weights))


def find_instances(
    encoder: SharedEncoder,
    enc: Encoded,
    names: list[str] | None = None,
    image: np.ndarray | None = None,
    weights: torch.Tensor | None = None,
) -> list[Instance]:
    """The objects of an encoded image (largest first) with masks in image pixels (outlines refined
    along the colours of ``image`` when it is given, with its colour ``weights`` when cached)."""
    logits = object_logits(encoder, enc, names)
    fg = best_class(logits) > 0
    groups = cluster(enc.inst, fg)
    if not groups:
        return []
    h, w = enc.size
    centres = torch.stack([enc.inst[:, g].mean(1) for g in groups])  # K x D
    if image is not None:
        label = pixel_instances(logits, enc.inst, centres, image, weights)
        fg_full, nearest = label > 0, label - 1
    else:
        up = F.interpolate(enc.inst[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        nearest = torch.cdist(up.flatten(1).T, centres).argmin(1).view(h, w)
        fg_full = (
            F.interpolate(fg[None, None].float(), size=(h, w), mode="bilinear", align_corners=False)[0, 0]
            > 0.5
        )
    out = []
    for k, g in enumerate(groups):
        mask = (fg_full & (nearest == k)).numpy()
        if not mask.any():
            continue
        out.append(Instance(g, mask, F.normalize(enc.sem[:, g].mean(1), dim=0), centres[k]))
    return out


def cached_instances(
    ctx: Any,
    encoder: SharedEncoder,
    image: Any,
    enc: Encoded,
    names: list[str] | None = None,
    refine: Any = DEFAULT_REFINE,
) -> list[Instance]:
    """:func:`find_instances` of an ``ImageRef``, computed once per image, names and refinement in
    ``ctx.cache`` (namespace ``"instances:<encoder>"``), so the segmenter and the recognizer share
    them. ``refine``: the :class:`~mereo.tools.encoder.refine.RefineSettings` of the outlines
    (None: bilinear, no refinement)."""
    names = list(names) if names else list(encoder.category_names)
    key = f"{image.sha256}:{hash(tuple(names))}:{refine}"

    def compute() -> list[Instance]:
        if refine is None:
            return find_instances(encoder, enc, names)
        weights = cached_weights(ctx, image, refine)
        return find_instances(encoder, enc, names, image=image.array, weights=weights)

    found, _ = ctx.cache.get_or_compute(f"instances:{encoder.name}", key, compute)
    return found


def name_scores(encoder: SharedEncoder, embeddings: torch.Tensor, names: list[str]) -> torch.Tensor:
    """``N x K`` softmax probabilities of each object embedding over ``names``."""
    from mereo.tools.encoder.text import name_embeddings

    logits = encoder.model.text_logits(embeddings, name_embeddings(names), background=False)
    return logits.softmax(-1)


def part_map(enc: Encoded, allowed: list[int] | None = None) -> torch.Tensor:
    """``H x W`` long part-kind index per image pixel (0 = background, ``1 + i`` = part label i).

    With ``allowed`` (indices >= 1), a pixel takes background or one of those kinds only.
    """
    if allowed is None:
        return best_class(
            F.interpolate(enc.part[None], size=enc.size, mode="bilinear", align_corners=False)[0]
        )
    idx = torch.tensor([0, *allowed])  # background and the allowed kinds only: far less to resize
    up = F.interpolate(enc.part[idx][None], size=enc.size, mode="bilinear", align_corners=False)[0]
    return idx[best_class(up)]


def region_embedding(enc: Encoded, mask: np.ndarray | None) -> torch.Tensor:
    """Mean L2-normalised object embedding over an ``H x W`` mask (the whole image when None)."""
    if mask is None:
        return F.normalize(enc.sem.mean((1, 2)), dim=0)
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    cells = F.interpolate(m, size=enc.sem.shape[-2:], mode="area")[0, 0]
    if float(cells.sum()) <= 0:
        return F.normalize(enc.sem.mean((1, 2)), dim=0)
    return F.normalize((enc.sem * cells).sum((1, 2)), dim=0)
