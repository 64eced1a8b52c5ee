"""The ``oracle`` co-segmenter: the task's gold answer, computed from the images' gold masks.

It reads ``ctx.gold[image.sha256]`` (gold object and part PartMasks, as evals register them) for
both images and applies the same task definitions as training and evaluation
(:func:`mereo.tools.coseg.pairs.task_answer`), so it is the upper bound of ``calico-small``.
"""

from __future__ import annotations

from mereo.errors import DatasetError, ValidationError
from mereo.tools.base import COSEG_TASKS, CosegTask, ToolContext
from mereo.tools.coseg.pairs import default_kb_parts, objects_from_partmasks, task_answer, to_partmasks
from mereo.types import ImageRef, PartMask


class OracleCoSegmenter:
    """Gold common objects, common parts and unique parts of an image pair."""

    name = "oracle"

    def __init__(self, ctx: ToolContext, use_taxonomy: bool = True):
        self.ctx = ctx
        self.kb_parts = default_kb_parts() if use_taxonomy else None

    def _gold(self, image: ImageRef) -> list[PartMask]:
        gold = self.ctx.gold.get(image.sha256)
        if gold is None:
            raise DatasetError(
                f"the oracle coseg backend has no gold masks for {image!r}; register them in "
                "ctx.gold (evals do this) or pick a trained backend such as calico-small."
            )
        return gold

    def cosegment(self, image_a: ImageRef, image_b: ImageRef, task: CosegTask) -> list[PartMask]:
        """PartMasks with ``image_index`` 0 (``image_a``) or 1 (``image_b``).

        Raises:
            ValidationError: unknown task.
            DatasetError: an image has no gold masks in ``ctx.gold``.
        """
        if task not in COSEG_TASKS:
            raise ValidationError(
                f"unknown co-segmentation task {task!r}; choose from {', '.join(COSEG_TASKS)}"
            )
        a, b = ImageRef(image_a), ImageRef(image_b)
        objects = [objects_from_partmasks(self._gold(a)), objects_from_partmasks(self._gold(b))]
        items = task_answer(objects[0], objects[1], task, self.kb_parts)
        self.ctx.note(tool="coseg:oracle", task=task, found=len(items))
        return to_partmasks(items, source="coseg:oracle")


def build(ctx: ToolContext, arg: str | None = None) -> OracleCoSegmenter:
    """``oracle`` (taxonomy-aware definitions) or ``oracle:visible`` (visible parts only)."""
    return OracleCoSegmenter(ctx, use_taxonomy=arg != "visible")
