"""The ``oracle`` correspondence backend: parts agree exactly when their labels are the same name.

It needs no image features, so the agent's set algebra can be measured with perfect evidence
(evals run it beside the other ``oracle`` backends: an upper bound for the trained tools).
"""

from __future__ import annotations

from collections.abc import Sequence

from mereo.knowledge import canonical
from mereo.tools.base import Correspondence, ToolContext
from mereo.types import ImageRef, PartMask


class OracleCorresponder:
    """Similarity 1 for parts with the same canonical label, else 0; matches at 0.5."""

    name = "oracle"
    threshold = 0.5

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def correspond(
        self, image_a: ImageRef, parts_a: Sequence[PartMask], image_b: ImageRef, parts_b: Sequence[PartMask]
    ) -> Correspondence:
        """``len(parts_a) x len(parts_b)`` similarities of 0 or 1, and every pair at 1 as a match."""
        sim = [[1.0 if canonical(a.label) == canonical(b.label) else 0.0 for b in parts_b] for a in parts_a]
        matches = [(i, j, s) for i, row in enumerate(sim) for j, s in enumerate(row) if s >= self.threshold]
        return Correspondence(similarity=sim, matches=matches, threshold=self.threshold)

    def match_points(
        self, image_a: ImageRef, points: Sequence[tuple[float, float]], image_b: ImageRef
    ) -> list[tuple[float, float]]:
        """``(x, y)`` pixels of image_a mapped by the images' size ratio (gold has no point matches)."""
        sx, sy = image_b.width / image_a.width, image_b.height / image_a.height
        return [(x * sx, y * sy) for x, y in points]


def build(ctx: ToolContext, arg: str | None = None) -> OracleCorresponder:
    return OracleCorresponder(ctx)
