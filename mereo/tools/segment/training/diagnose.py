"""``mereo eval segment --diagnose``: where a shared-encoder segment backend loses gIoU.

The ``synthparts-cnn`` mask of a part is (part-kind map) AND (named object's region). Each
variant below swaps one of the two for the gold answer, read from ``ctx.gold`` (evals only):

- ``predicted``: the backend as it is;
- ``gold-pick``: the predicted instance that overlaps the gold object most is the named object
  (instance grouping as predicted, naming perfect);
- ``gold-region``: the gold object's pixels are the region (part masks as predicted);
- ``gold-kinds``: the gold part masks of the named kinds (every object) within the predicted
  region (object selection as predicted, part masks perfect);
- ``named-only``: a pixel's kind is chosen among the named kinds only (not the object's other
  known parts).

The rows are printed like the other backends (overall and by objects in the scene), so
``gold-region`` minus ``predicted`` is what object selection costs and ``gold-kinds`` minus
``predicted`` what the part masks cost.
"""

from __future__ import annotations

import numpy as np

from mereo.tools.base import ToolContext
from mereo.tools.encoder.instances import find_instances
from mereo.tools.encoder.runtime import Encoded, SharedEncoder
from mereo.tools.segment.shared import SharedEncoderSegmenter
from mereo.tools.segment.zoomed import Zoomed
from mereo.types import ImageRef, Mask, PartMask

VARIANTS = ("predicted", "gold-pick", "gold-region", "gold-kinds", "named-only")


def _gold(ctx: ToolContext, image: ImageRef) -> list[PartMask]:
    return ctx.gold[image.sha256]


def gold_object(ctx: ToolContext, image: ImageRef, object: str) -> np.ndarray | None:
    """``H x W`` bool union of the gold masks of every object of category ``object``."""
    masks = [g.mask for g in _gold(ctx, image) if g.kind == "object" and g.label == object]
    return Mask.union(masks).to_numpy() if masks else None


class DiagnosticSegmenter(SharedEncoderSegmenter):
    """``synthparts-cnn`` with one piece replaced by the gold answer (see the module docstring)."""

    def __init__(self, ctx: ToolContext, encoder: SharedEncoder, variant: str):
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        super().__init__(ctx, encoder, name=variant)
        self.variant = variant

    def region(self, image: ImageRef, enc: Encoded, object: str | None) -> np.ndarray | None:
        if not object or self.variant not in ("gold-pick", "gold-region"):
            return super().region(image, enc, object)
        gold = gold_object(self.ctx, image, object)
        if gold is None or self.variant == "gold-region":
            return gold
        instances = find_instances(self.encoder, enc, image=image.array if self.refine else None)
        if not instances:
            return None
        overlap = [float((i.mask & gold).sum()) / max(1.0, float((i.mask | gold).sum())) for i in instances]
        return instances[int(np.argmax(overlap))].mask

    def zoomed_region(
        self, image: ImageRef, region: np.ndarray | None, zoomed: Zoomed | None = None
    ) -> np.ndarray | None:
        if self.variant == "gold-region":  # the gold outline stands as it is
            return region
        return super().zoomed_region(image, region, zoomed)

    def allowed_kinds(self, named: list[str], object: str | None) -> list[int]:
        if self.variant == "named-only":
            return [1 + i for i, p in enumerate(self.encoder.part_labels) if p in set(named)]
        return super().allowed_kinds(named, object)

    def kind_masks(
        self,
        image: ImageRef,
        enc: Encoded,
        named: list[str],
        object: str | None,
        region: np.ndarray | None = None,
        zoomed: Zoomed | None = None,
    ) -> dict[str, np.ndarray]:
        if self.variant != "gold-kinds":
            return super().kind_masks(image, enc, named, object, region, zoomed)
        h, w = enc.size
        out = {}
        for kind in named:
            masks = [g.mask for g in _gold(self.ctx, image) if g.kind == "part" and g.label == kind]
            out[kind] = Mask.union(masks).to_numpy() if masks else np.zeros((h, w), bool)
        return out
