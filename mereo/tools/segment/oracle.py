"""Ground-truth backends: ``oracle`` (the gold part masks) and ``whole-object`` (a baseline).

Both read ``ctx.gold[image.sha256]``, the image's gold ``PartMask`` list (``kind="part"`` and
``kind="object"``) that evals fill in. The requested parts are ``parts``, or the gold part names
mentioned in ``text`` (singular or plural; negated mentions such as "but no wheels" skipped).

- ``oracle`` returns the gold mask of each requested part the object has: the upper bound.
- ``whole-object`` returns the *object's* mask for every requested part the object has: what a
  model that finds objects but not parts would score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mereo.errors import DatasetError
from mereo.tools.base import ToolContext
from mereo.tools.segment.common import check_request, wanted_parts
from mereo.types import ImageRef, Mask, PartMask


class GoldSegmenter:
    """Answers from ``ctx.gold``; ``whole_object=True`` gives the whole-object baseline."""

    def __init__(self, ctx: ToolContext, name: str = "oracle", whole_object: bool = False):
        self.ctx = ctx
        self.name = name
        self.whole_object = whole_object

    def _gold(self, sha: str) -> list[PartMask]:
        if sha not in self.ctx.gold:
            raise DatasetError(
                f"the {self.name} segment backend needs gold masks for this image, but "
                "ctx.gold has none; register them first with agent.register_gold(image, parts) "
                "(the SynthParts evals and `mereo demo --oracle` do)."
            )
        return self.ctx.gold[sha]

    def segment(
        self,
        image: Any,
        text: str | None = None,
        parts: Sequence[str] | None = None,
        object: str | None = None,
        image_index: int = 0,
    ) -> list[PartMask]:
        """Gold masks of the requested parts (see the module docstring)."""
        img = ImageRef(image)
        req = check_request(text, parts, object, image_index)
        gold = self._gold(img.sha256)

        def of_object(g: PartMask) -> bool:
            if req.object is None or g.object == req.object:
                return True
            return g.kind == "object" and g.label == req.object

        part_masks = [g for g in gold if g.kind == "part" and of_object(g)]
        vocabulary = sorted({g.label for g in part_masks})
        wanted = wanted_parts(req, lambda: vocabulary)
        out: list[PartMask] = []
        for label in dict.fromkeys(wanted):
            masks = [g for g in part_masks if g.label == label]
            if not masks:
                continue
            if self.whole_object:
                objects = {g.object for g in masks}
                obj_masks = [g.mask for g in gold if g.kind == "object" and g.label in objects]
                if not obj_masks:
                    continue
                mask = Mask.union(obj_masks)
            else:
                mask = Mask.union([g.mask for g in masks])
            if mask.is_empty():
                continue
            out.append(
                PartMask(
                    label=label,
                    object=req.object or masks[0].object,
                    mask=mask,
                    score=1.0,
                    image_index=req.image_index,
                    source=f"segment:{self.name}",
                    kind="part",
                )
            )
        self.ctx.note(
            tool="segment", backend=self.name, what="gold masks", requested=len(wanted), found=len(out)
        )
        return out


def build_oracle(ctx: ToolContext, arg: str | None) -> GoldSegmenter:
    return GoldSegmenter(ctx, "oracle")


def build_whole_object(ctx: ToolContext, arg: str | None) -> GoldSegmenter:
    return GoldSegmenter(ctx, "whole-object", whole_object=True)
