"""The ``oracle`` recognition backend: the image's gold objects with their masks.

It reads ``ctx.gold[image.sha256]`` (the gold object and part masks that evals, or
``PartAgent.register_gold``, register), so an agent run with it measures everything but
recognition: an upper bound for the trained recognizers.
"""

from __future__ import annotations

from collections.abc import Sequence

from mereo.errors import DatasetError
from mereo.knowledge import canonical
from mereo.tools.base import Recognition, ToolContext
from mereo.types import ImageRef, Mask, PartMask


class OracleRecognizer:
    """Gold objects of the image, largest first, with their masks (score 1)."""

    name = "oracle"

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def _objects(self, image: ImageRef) -> list[PartMask]:
        gold = self.ctx.gold.get(image.sha256)
        if gold is None:
            raise DatasetError(
                f"the oracle recognize backend has no gold masks for {image!r}; register them first with "
                "`agent.register_gold(image, parts)` (evals do this), or pick a trained backend."
            )
        return [p for p in gold if p.kind == "object"]

    def recognize(
        self, image: ImageRef, candidates: Sequence[str] | None = None, top_k: int = 3
    ) -> list[Recognition]:
        """The ``top_k`` largest gold objects (only those named in ``candidates``, when given)."""
        objs = self._objects(image)
        if candidates is not None:
            allowed = {canonical(c) for c in candidates}
            objs = [o for o in objs if canonical(o.label) in allowed]
        objs.sort(key=lambda o: -o.mask.area)
        return [Recognition(label=o.label, score=1.0, box=o.mask.bbox(), mask=o.mask) for o in objs[:top_k]]

    def score(self, image: ImageRef, mask: Mask | None, texts: Sequence[str]) -> list[float]:
        """1 for the label of the gold object that overlaps ``mask`` most (or any object), else 0."""
        objs = self._objects(image)
        if mask is not None and objs:
            best = max(objs, key=lambda o: Mask.intersection([o.mask, mask]).area)
            present = {canonical(best.label)}
        else:
            present = {canonical(o.label) for o in objs}
        return [1.0 if canonical(t) in present else 0.0 for t in texts]


def build(ctx: ToolContext, arg: str | None = None) -> OracleRecognizer:
    return OracleRecognizer(ctx)
