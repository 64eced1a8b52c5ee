"""``oracle`` backends of the four tool families: they return the dataset's ground truth.

They read ``ctx.gold[image.sha256]`` (the image's gold object and part masks, filled by
``PartAgent.register_gold`` or the eval runner), so an agent run with oracle tools measures the
planner and the set algebra alone: an upper bound for the trained tools.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mereo.errors import DatasetError
from mereo.tools.base import Correspondence, CosegTask, Recognition, ToolContext
from mereo.types import ImageRef, Mask, PartMask


def _norm(name: str | None) -> str:
    return re.sub(r"[\s_]+", " ", (name or "").strip().lower())


def _gold(ctx: ToolContext, image: ImageRef, family: str) -> list[PartMask]:
    gold = ctx.gold.get(image.sha256)
    if gold is None:
        raise DatasetError(
            f"the oracle {family} backend has no gold masks for {image!r}; register them first with "
            "`agent.register_gold(image, parts)` (evals do this), or pick a trained backend."
        )
    return gold


def _mentions(text: str, label: str) -> bool:
    """Whether ``text`` names ``label`` (singular or a simple plural)."""
    words = re.escape(_norm(label))
    return re.search(rf"\b{words}(s|es)?\b", _norm(text)) is not None


class OracleSegmenter:
    """Gold part masks of an object, restricted to the parts asked for."""

    name = "oracle"

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def segment(
        self,
        image: ImageRef,
        text: str | None = None,
        parts: Sequence[str] | None = None,
        object: str | None = None,
        image_index: int = 0,
    ) -> list[PartMask]:
        """Gold parts of ``object`` (all objects when None), named in ``parts`` or ``text``."""
        wanted = {_norm(p) for p in parts} if parts is not None else None
        out = []
        for pm in _gold(self.ctx, image, "segment"):
            if pm.kind != "part" or (object is not None and _norm(pm.object) != _norm(object)):
                continue
            if wanted is not None and _norm(pm.label) not in wanted:
                continue
            if wanted is None and text is not None and not _mentions(text, pm.label):
                continue
            out.append(pm.model_copy(update={"image_index": image_index, "source": "segment:oracle"}))
        self.ctx.note(tool="segment:oracle", image=image.sha256[:12], found=len(out))
        return out


class OracleCoSegmenter:
    """Gold common objects, common parts and unique parts of an image pair."""

    name = "oracle"

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def cosegment(self, image_a: ImageRef, image_b: ImageRef, task: CosegTask) -> list[PartMask]:
        """PartMasks with ``image_index`` 0 (``image_a``) or 1 (``image_b``)."""
        golds = [_gold(self.ctx, image_a, "coseg"), _gold(self.ctx, image_b, "coseg")]
        kind = "object" if task == "common_objects" else "part"
        labels = [{_norm(p.label) for p in g if p.kind == kind} for g in golds]
        keep: list[set[str]]
        if task == "unique_parts":
            keep = [labels[0] - labels[1], labels[1] - labels[0]]
        else:
            keep = [labels[0] & labels[1]] * 2
        out = []
        for idx, g in enumerate(golds):
            for pm in g:
                if pm.kind == kind and _norm(pm.label) in keep[idx]:
                    out.append(pm.model_copy(update={"image_index": idx, "source": "coseg:oracle"}))
        return out


class OracleCorresponder:
    """Parts agree exactly when their gold labels are equal (similarity 1, else 0)."""

    name = "oracle"
    threshold = 0.5

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def correspond(
        self, image_a: ImageRef, parts_a: Sequence[PartMask], image_b: ImageRef, parts_b: Sequence[PartMask]
    ) -> Correspondence:
        sim = [[1.0 if _norm(a.label) == _norm(b.label) else 0.0 for b in parts_b] for a in parts_a]
        matches = []
        for i, row in enumerate(sim):
            for j, s in enumerate(row):
                if s >= self.threshold:
                    matches.append((i, j, s))
        return Correspondence(similarity=sim, matches=matches, threshold=self.threshold)

    def match_points(
        self, image_a: ImageRef, points: Sequence[tuple[float, float]], image_b: ImageRef
    ) -> list[tuple[float, float]]:
        """Points mapped by the images' size ratio (gold has no point correspondences)."""
        sx, sy = image_b.width / image_a.width, image_b.height / image_a.height
        return [(x * sx, y * sy) for x, y in points]


class OracleRecognizer:
    """Gold objects of the image, largest first, with their masks."""

    name = "oracle"

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def recognize(
        self, image: ImageRef, candidates: Sequence[str] | None = None, top_k: int = 3
    ) -> list[Recognition]:
        objs = [p for p in _gold(self.ctx, image, "recognize") if p.kind == "object"]
        if candidates is not None:
            allowed = {_norm(c) for c in candidates}
            objs = [o for o in objs if _norm(o.label) in allowed]
        objs.sort(key=lambda o: -o.mask.area)
        return [Recognition(label=o.label, score=1.0, box=o.mask.bbox(), mask=o.mask) for o in objs[:top_k]]

    def score(self, image: ImageRef, mask: Mask | None, texts: Sequence[str]) -> list[float]:
        """1 for the label of the gold object that overlaps ``mask`` most (or any object), else 0."""
        objs = [p for p in _gold(self.ctx, image, "recognize") if p.kind == "object"]
        if mask is not None and objs:
            best = max(objs, key=lambda o: Mask.intersection([o.mask, mask]).area)
            present = {_norm(best.label)}
        else:
            present = {_norm(o.label) for o in objs}
        return [1.0 if _norm(t) in present else 0.0 for t in texts]


def build_segment(ctx: ToolContext, arg: str | None = None) -> OracleSegmenter:
    return OracleSegmenter(ctx)


def build_coseg(ctx: ToolContext, arg: str | None = None) -> OracleCoSegmenter:
    return OracleCoSegmenter(ctx)


def build_correspond(ctx: ToolContext, arg: str | None = None) -> OracleCorresponder:
    return OracleCorresponder(ctx)


def build_recognize(ctx: ToolContext, arg: str | None = None) -> OracleRecognizer:
    return OracleRecognizer(ctx)
