"""The ``calico-small`` backend: the trained Calico-small network behind the CoSegmenter protocol.

Each image is encoded once per frozen encoder (through the shared feature cache); the trained
modules then run on the pair. Names whose answer probability is at least the task's threshold
(calibrated per task on validation, stored in the manifest) become PartMasks; their label is
the nearest vocabulary name in MiniLM space (the knowledge base's
object names for common objects, its part names for the part tasks, plus any ``extra_labels``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mereo.device import resolve_device
from mereo.errors import ValidationError
from mereo.tools.base import COSEG_TASKS, CosegTask, ToolContext
from mereo.tools.coseg.features import FrozenEncoders, load_encoders, pixels_at
from mereo.tools.coseg.model import CalicoConfig, CalicoSmall
from mereo.tools.coseg.vocab import Vocabulary, default_vocabulary, kind_of
from mereo.types import ImageRef, Mask, PartMask

CHECKPOINT_NAME = "calico-small"


def load_model(directory: str | Path | None = None) -> tuple[CalicoSmall, dict[str, Any]]:
    """The trained network and its manifest from ``mereo/checkpoints/calico-small.*``.

    Raises:
        CheckpointError: missing or corrupt checkpoint, or weights that do not fit the config.
    """
    from mereo.checkpoints import config_must_fit, load_checkpoint

    state, manifest = load_checkpoint(CHECKPOINT_NAME, directory)
    with config_must_fit(CHECKPOINT_NAME, directory):
        model = CalicoSmall(CalicoConfig(**manifest["config"]))
        model.load_state_dict(state, strict=True)
    return model.eval(), manifest


@torch.no_grad()
def predict_batch(
    model: CalicoSmall,
    clip: torch.Tensor,
    dino: torch.Tensor,
    pixels: torch.Tensor,
    task: CosegTask,
    vocab: Vocabulary,
    sizes: Sequence[Sequence[tuple[int, int]]],
    threshold: float = 0.5,
    consistent: bool = True,
    at_least_one: bool = True,
    source: str = "coseg:calico-small",
) -> list[list[PartMask]]:
    """Answer ``task`` for a batch of ``B`` pairs.

    Args:
        model: the network (in eval mode).
        clip, dino, pixels: the model inputs (see :meth:`CalicoSmall.encode`).
        task: the task of every pair of the batch.
        vocab: candidate label names and their MiniLM embeddings.
        sizes: per pair, ``(height, width)`` of image 0 and image 1; masks are resized to them.
        threshold: minimum answer probability of a label.
        consistent: for the "common" tasks keep a label only when it is found in both images;
            for unique parts drop a label found in both from the image where it is less likely.
        at_least_one: when no name passes the threshold, answer with the name most likely in both
            images (common tasks) or most likely in one image and not the other (unique parts):
            a pair asked about usually has an answer.
        source: the ``PartMask.source`` to set.

    Returns:
        Per pair, its PartMasks (one per label per image, ``image_index`` 0 or 1).
    """
    b = clip.shape[0]
    kind = kind_of(task)
    task_t = torch.full((b,), COSEG_TASKS.index(task), dtype=torch.long, device=clip.device)
    enc = model.encode(clip, dino, pixels, task_t)
    probs = model.answer_probs(model.classify(enc, vocab.embeddings.to(clip.device)), task).cpu()
    chosen: list[list[list[int]]] = []
    for pi in range(b):
        sets = [set(torch.nonzero(probs[pi, side] >= threshold).flatten().tolist()) for side in (0, 1)]
        if consistent and task != "unique_parts":
            sets = [sets[0] & sets[1]] * 2
            if at_least_one and not sets[0]:  # the name most likely common to both images
                sets = [{int(torch.minimum(probs[pi, 0], probs[pi, 1]).argmax())}] * 2
        elif consistent:
            both = sets[0] & sets[1]
            sets = [
                {v for v in sets[s] if v not in both or probs[pi, s, v] > probs[pi, 1 - s, v]} for s in (0, 1)
            ]
        if at_least_one and task == "unique_parts" and not (sets[0] or sets[1]):
            # the name most likely in one image and not in the other
            gap = probs[pi] - probs[pi].flip(0)
            side = int(gap.max(dim=1).values.argmax())
            sets[side] = {int(gap[side].argmax())}
        per_side = []
        for side in (0, 1):
            side_probs = probs[pi, side]
            ranked = sorted(sets[side], key=lambda v: -float(side_probs[v]))
            per_side.append(ranked[: model.config.num_parts])
        chosen.append(per_side)
    k = max((len(c) for pair in chosen for c in pair), default=0)
    results: list[list[PartMask]] = [[] for _ in range(b)]
    if k == 0:
        return results
    queries = torch.zeros(2 * b, k, vocab.embeddings.shape[1])
    for pi in range(b):
        for side in (0, 1):
            ids = chosen[pi][side]
            if ids:
                queries[2 * pi + side, : len(ids)] = vocab.embeddings[ids]
    mask_logits, quality = model.segment(enc, queries.to(clip.device))
    mask_logits, quality = mask_logits.cpu(), quality.sigmoid().cpu()
    for pi in range(b):
        for side in (0, 1):
            ids = chosen[pi][side]
            if not ids:
                continue
            h, w = sizes[pi][side]
            row = 2 * pi + side
            up = F.interpolate(
                mask_logits[row, : len(ids)][:, None].float(),
                size=(h, w),
                mode="bilinear",
                align_corners=False,
            )[:, 0]
            for q, v in enumerate(ids):
                m = (up[q] > 0).numpy()
                if not m.any():
                    continue
                score = float(probs[pi, side, v]) * float(quality[row, q])
                name = vocab.names[v]
                results[pi].append(
                    PartMask(
                        label=name,
                        object=name if kind == "object" else None,
                        image_index=side,
                        mask=Mask.from_numpy(m),
                        score=min(1.0, max(0.0, score)),
                        source=source,
                        kind=kind,
                    )
                )
    return results


class CalicoSmallCoSegmenter:
    """Calico-small on an image pair.

    Args:
        ctx: the tool context (feature cache, device, event log).
        model: the trained network.
        encoders: the frozen encoders it was trained with.
        threshold: minimum answer probability of a returned label: one value, or one per task
            (``{"common_objects": ..., "common_parts": ..., "unique_parts": ...}``; a task it
            lacks uses 0.5).
        extra_labels: names added to the knowledge-base vocabulary.
    """

    name = "calico-small"

    def __init__(
        self,
        ctx: ToolContext,
        model: CalicoSmall,
        encoders: FrozenEncoders,
        threshold: float | Mapping[str, float] = 0.5,
        extra_labels: Sequence[str] = (),
    ):
        self.ctx = ctx
        self.device = resolve_device(ctx.device)
        self.model = model.to(self.device).eval()
        self.encoders = encoders
        self.threshold = threshold
        self.extra = tuple(extra_labels)

    def task_threshold(self, task: CosegTask) -> float:
        """The answer-probability threshold used for ``task``."""
        if isinstance(self.threshold, Mapping):
            return float(self.threshold.get(task, 0.5))
        return float(self.threshold)

    def vocabulary(self, task: CosegTask) -> Vocabulary:
        return default_vocabulary(kind_of(task), self.extra)

    @torch.no_grad()
    def cosegment(self, image_a: ImageRef, image_b: ImageRef, task: CosegTask) -> list[PartMask]:
        """Labelled masks of ``task`` for the pair, ``image_index`` 0 (``image_a``) or 1 (``image_b``).

        Raises:
            ValidationError: ``task`` is not one of ``COSEG_TASKS``.
        """
        if task not in COSEG_TASKS:
            raise ValidationError(
                f"unknown co-segmentation task {task!r}; choose from {', '.join(COSEG_TASKS)}"
            )
        images = [ImageRef(image_a), ImageRef(image_b)]
        toks = [self.encoders.encode_cached(self.ctx, im) for im in images]
        side = self.model.config.mask_side
        pixels = torch.cat([pixels_at(im.array[None], side) for im in images])
        result = predict_batch(
            self.model,
            torch.stack([t[0] for t in toks])[None].to(self.device),
            torch.stack([t[1] for t in toks])[None].to(self.device),
            pixels[None].to(self.device),
            task,
            self.vocabulary(task),
            [[(im.height, im.width) for im in images]],
            self.task_threshold(task),
        )[0]
        self.ctx.note(tool="coseg:calico-small", task=task, found=len(result))
        return result


def build(ctx: ToolContext, arg: str | None = None) -> CalicoSmallCoSegmenter:
    """``calico-small`` (the committed checkpoint) or ``calico-small:<folder>`` (a checkpoint folder)."""
    model, manifest = load_model(arg)
    inference = manifest.get("inference", {})
    threshold: float | dict[str, float] = float(inference.get("threshold", 0.5))
    if inference.get("task_thresholds"):  # calibrated per task on validation
        threshold = {t: float(v) for t, v in inference["task_thresholds"].items()}
    encoders = load_encoders(ctx.device, expect=manifest.get("encoders"))
    return CalicoSmallCoSegmenter(ctx, model, encoders, threshold=threshold)
