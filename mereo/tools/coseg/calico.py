"""The ``calico-small`` backend: the trained Calico-small network behind the CoSegmenter protocol.

Each image is encoded once per frozen encoder (through the shared feature cache); the trained
modules then run on the pair. Queries whose objectness is at least ``threshold`` become
PartMasks; their label is the nearest vocabulary name in MiniLM space (the knowledge base's
object names for common objects, its part names for the part tasks, plus any ``extra_labels``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mereo.device import resolve_device
from mereo.errors import CheckpointError, ValidationError
from mereo.tools.base import COSEG_TASKS, CosegTask, ToolContext
from mereo.tools.coseg.data import pixels_at
from mereo.tools.coseg.features import FrozenEncoders, load_encoders
from mereo.tools.coseg.model import CalicoConfig, CalicoSmall, CosegOutput
from mereo.tools.coseg.vocab import Vocabulary, default_vocabulary, kind_of
from mereo.types import ImageRef, Mask, PartMask

CHECKPOINT_NAME = "calico-small"


def load_model(directory: str | Path | None = None) -> tuple[CalicoSmall, dict[str, Any]]:
    """The trained network and its manifest from ``mereo/checkpoints/calico-small.*``.

    Raises:
        CheckpointError: missing or corrupt checkpoint, or weights that do not fit the config.
    """
    from mereo.checkpoints import load_checkpoint

    state, manifest = load_checkpoint(CHECKPOINT_NAME, directory)
    model = CalicoSmall(CalicoConfig(**manifest["config"]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{CHECKPOINT_NAME} does not fit its architecture config ({e}); retrain it "
                              "with `mereo train coseg`.") from e
    return model.eval(), manifest


def decode_pair(out: CosegOutput, index: int, task: CosegTask, vocab: Vocabulary,
                sizes: Sequence[tuple[int, int]], threshold: float = 0.5, consistent: bool = True,
                source: str = "coseg:calico-small") -> list[PartMask]:
    """Turn the raw outputs of pair ``index`` of a batch into PartMasks.

    Args:
        out: model outputs for a batch of pairs.
        index: which pair of the batch.
        task: the task the pair was run with.
        vocab: label names and embeddings to classify the label embeddings with.
        sizes: ``(height, width)`` of image 0 and image 1; masks are resized to them.
        threshold: minimum objectness probability.
        consistent: for the two "common" tasks keep only labels found in both images, for
            unique parts only labels found in one image.
        source: the ``PartMask.source`` to set.

    Returns:
        At most one PartMask per label per image (queries with the same label are unioned).
    """
    kind = kind_of(task)
    found: list[dict[str, tuple[np.ndarray, float]]] = [{}, {}]
    for side in (0, 1):
        prob = out.objectness[index, side].sigmoid()
        keep = torch.nonzero(prob >= threshold).flatten()
        if keep.numel() == 0:
            continue
        names, _ = vocab.classify(out.label_embeddings[index, side, keep])
        h, w = sizes[side]
        logits = F.interpolate(out.mask_logits[index, side, keep][:, None].float(), size=(h, w),
                               mode="bilinear", align_corners=False)[:, 0]
        quality = out.quality[index, side, keep].sigmoid()
        for q, name, lg, qual in zip(keep.tolist(), names, logits, quality, strict=True):
            m = (lg > 0).numpy()
            if not m.any():
                continue
            score = float(prob[q]) * float(qual)
            if name in found[side]:
                old, s = found[side][name]
                found[side][name] = (old | m, max(s, score))
            else:
                found[side][name] = (m, score)
    if consistent:
        both = set(found[0]) & set(found[1])
        for side in (0, 1):
            wanted = both if task != "unique_parts" else set(found[side]) - both
            found[side] = {k: v for k, v in found[side].items() if k in wanted}
    result = []
    for side in (0, 1):
        for name, (m, score) in sorted(found[side].items()):
            result.append(PartMask(label=name, object=name if kind == "object" else None, image_index=side,
                                   mask=Mask.from_numpy(m), score=min(1.0, max(0.0, score)), source=source,
                                   kind=kind))
    return result


class CalicoSmallCoSegmenter:
    """Calico-small on an image pair.

    Args:
        ctx: the tool context (feature cache, device, event log).
        model: the trained network.
        encoders: the frozen encoders it was trained with.
        threshold: minimum objectness probability of a returned mask.
        extra_labels: names added to the knowledge-base vocabulary.
    """

    name = "calico-small"

    def __init__(self, ctx: ToolContext, model: CalicoSmall, encoders: FrozenEncoders,
                 threshold: float = 0.5, extra_labels: Sequence[str] = ()):
        self.ctx = ctx
        self.device = resolve_device(ctx.device)
        self.model = model.to(self.device).eval()
        self.encoders = encoders
        self.threshold = threshold
        self.extra = tuple(extra_labels)

    def vocabulary(self, task: CosegTask) -> Vocabulary:
        return default_vocabulary(kind_of(task), self.extra)

    @torch.no_grad()
    def cosegment(self, image_a: ImageRef, image_b: ImageRef, task: CosegTask) -> list[PartMask]:
        """Labelled masks of ``task`` for the pair, ``image_index`` 0 (``image_a``) or 1 (``image_b``).

        Raises:
            ValidationError: ``task`` is not one of ``COSEG_TASKS``.
        """
        if task not in COSEG_TASKS:
            raise ValidationError(f"unknown co-segmentation task {task!r}; choose from {', '.join(COSEG_TASKS)}")
        images = [ImageRef(image_a), ImageRef(image_b)]
        toks = [self.encoders.encode_cached(self.ctx, im) for im in images]
        side = self.model.config.mask_side
        pixels = torch.cat([pixels_at(im.array[None], side) for im in images])
        out = self.model(torch.stack([t[0] for t in toks])[None].to(self.device),
                         torch.stack([t[1] for t in toks])[None].to(self.device),
                         pixels[None].to(self.device),
                         torch.tensor([COSEG_TASKS.index(task)], device=self.device))
        out = CosegOutput(*(t.cpu() for t in (out.mask_logits, out.objectness, out.label_embeddings, out.quality)))
        result = decode_pair(out, 0, task, self.vocabulary(task), [(im.height, im.width) for im in images],
                             self.threshold)
        self.ctx.note(tool="coseg:calico-small", task=task, found=len(result))
        return result


def build(ctx: ToolContext, arg: str | None = None) -> CalicoSmallCoSegmenter:
    """``calico-small`` (the committed checkpoint) or ``calico-small:<folder>`` (a checkpoint folder)."""
    model, _ = load_model(arg)
    return CalicoSmallCoSegmenter(ctx, model, load_encoders(ctx.device))
