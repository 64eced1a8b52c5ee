"""The ``per-image`` co-segmentation baseline ("Multi-Image VLPart" of the Calico paper).

Each image is handled on its own: the recognizer names its objects, the knowledge base lists the
main object's parts, and the segmentation tool segments them. The two label sets are then
compared with the same definitions as the gold answer (:mod:`mereo.tools.coseg.pairs`), and
labels called common in both images are checked by DINOv2 correspondence: a pair whose masks'
features are less similar than ``min_similarity`` is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mereo.errors import ValidationError
from mereo.tools.base import COSEG_TASKS, CosegTask, ToolContext
from mereo.tools.coseg.pairs import ObjectGold, default_kb_parts, task_answer, to_partmasks
from mereo.types import ImageRef, PartMask


def _box_mask(box: tuple[float, float, float, float], height: int, width: int) -> np.ndarray:
    x, y, w, h = box
    m = np.zeros((height, width), dtype=bool)
    m[max(0, int(y)) : min(height, int(np.ceil(y + h))), max(0, int(x)) : min(width, int(np.ceil(x + w)))] = (
        True
    )
    return m


class PerImageCoSegmenter:
    """Recognize + segment each image, then compare label sets across the pair.

    Args:
        ctx: the tool context.
        segmenter, recognizer, corresponder: built backends of the other tool families.
        kb_parts: object name -> the knowledge base's part names.
        max_objects: objects kept per image (by recognition score).
        min_score: minimum recognition score of a kept object (the top one is always kept).
        min_similarity: correspondence similarity a common part needs across the pair.
    """

    name = "per-image"

    def __init__(
        self,
        ctx: ToolContext,
        segmenter: Any,
        recognizer: Any,
        corresponder: Any | None,
        kb_parts: Callable[[str], Sequence[str]],
        max_objects: int = 3,
        min_score: float = 0.3,
        min_similarity: float = 0.2,
    ):
        self.ctx = ctx
        self.segmenter = segmenter
        self.recognizer = recognizer
        self.corresponder = corresponder
        self.kb_parts = kb_parts
        self.max_objects = max_objects
        self.min_score = min_score
        self.min_similarity = min_similarity

    def objects(self, image: ImageRef, index: int, with_parts: bool) -> list[ObjectGold]:
        """The image's recognised objects (best first); the first one gets its segmented parts."""
        recs = self.recognizer.recognize(image, top_k=self.max_objects)
        kept = [r for k, r in enumerate(recs) if k == 0 or r.score >= self.min_score]
        out: list[ObjectGold] = []
        for r in kept:
            m = r.mask.to_numpy() if r.mask is not None else _box_mask(r.box, image.height, image.width)
            out.append(ObjectGold(r.label, m))
        if with_parts and out:
            main = out[0]
            names = list(self.kb_parts(main.category))
            if names:
                for pm in self.segmenter.segment(image, parts=names, object=main.category, image_index=index):
                    m = pm.mask.to_numpy()
                    if m.any():
                        main.parts[pm.label] = main.parts[pm.label] | m if pm.label in main.parts else m
            # the gold's "main object" is the largest one; make the recognised main object win that
            main.mask = main.mask | np.logical_or.reduce([*main.parts.values(), main.mask])
            for o in out[1:]:
                o.mask = o.mask & ~main.mask
        return out

    def cosegment(self, image_a: ImageRef, image_b: ImageRef, task: CosegTask) -> list[PartMask]:
        """PartMasks with ``image_index`` 0 (``image_a``) or 1 (``image_b``)."""
        if task not in COSEG_TASKS:
            raise ValidationError(
                f"unknown co-segmentation task {task!r}; choose from {', '.join(COSEG_TASKS)}"
            )
        refs = [ImageRef(image_a), ImageRef(image_b)]
        parts = task != "common_objects"
        objs = [self.objects(refs[k], k, parts) for k in (0, 1)]
        items = task_answer(objs[0], objs[1], task, self.kb_parts)
        masks = to_partmasks(items, source="coseg:per-image")  # kind: "object" for common_objects
        if task == "common_parts" and self.corresponder is not None:
            masks = self._check(refs, masks)
        self.ctx.note(tool="coseg:per-image", task=task, found=len(masks))
        return masks

    def _check(self, refs: list[ImageRef], masks: list[PartMask]) -> list[PartMask]:
        """Drop common parts found in both images whose masks do not correspond."""
        a = [m for m in masks if m.image_index == 0]
        b = [m for m in masks if m.image_index == 1]
        if not a or not b:
            return masks
        if self.corresponder is None:
            return masks
        corr = self.corresponder.correspond(refs[0], a, refs[1], b)
        drop: set[str] = set()
        for i, pa in enumerate(a):
            for j, pb in enumerate(b):
                if pa.label == pb.label and corr.similarity[i][j] < self.min_similarity:
                    drop.add(pa.label)
        return [m for m in masks if m.label not in drop]


def build(ctx: ToolContext, arg: str | None = None) -> PerImageCoSegmenter:
    """``per-image`` or ``per-image:<segment backend>`` (default ``plum-small``)."""
    from mereo.tools import correspond, recognize, segment

    seg = segment.build(arg or "plum-small", ctx)
    rec = recognize.build(recognize.DEFAULT_BACKEND, ctx)
    corr = correspond.build(correspond.DEFAULT_BACKEND, ctx)
    return from_tools(ctx, seg, rec, corr)


def build_shared(ctx: ToolContext, arg: str | None = None) -> PerImageCoSegmenter:
    """The baseline over the shared encoder's three backends (``synthparts-cnn[:<checkpoint>]``)."""
    from mereo.tools import correspond, recognize, segment

    name = f"synthparts-cnn:{arg}" if arg else "synthparts-cnn"
    # no best-guess masks: this composition asks for every part the knowledge base lists, not for
    # parts known to be there (on val: AP50 42.3 -> 48.4, mIoU 56.9 -> 58.9 without them)
    seg = segment.build(f"synthparts-cnn:{arg or ''}@no-fill", ctx)
    rec, corr = (family.build(name, ctx) for family in (recognize, correspond))
    return from_tools(ctx, seg, rec, corr)


def from_tools(
    ctx: ToolContext, segmenter: Any, recognizer: Any, corresponder: Any | None
) -> PerImageCoSegmenter:
    """The baseline over already built backends (the agent passes its own; None: no correspondence)."""
    return PerImageCoSegmenter(ctx, segmenter, recognizer, corresponder, default_kb_parts())
