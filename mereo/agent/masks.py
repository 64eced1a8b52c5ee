"""Mask geometry the nodes need: boxes as masks, how much of a part lies inside its object, the
region of a recognised object, and de-duplicating answer masks. Masks are in image pixels."""

from __future__ import annotations

import numpy as np

from mereo.types import Mask, PartMask


def box_mask(box: tuple[float, float, float, float], h: int, w: int) -> Mask:
    """An ``h x w`` mask of the box ``(x, y, width, height)`` in pixels (clipped to the image)."""
    x, y, bw, bh = box
    m = np.zeros((h, w), dtype=bool)
    m[max(0, int(y)) : min(h, int(np.ceil(y + bh))), max(0, int(x)) : min(w, int(np.ceil(x + bw)))] = True
    return Mask.from_numpy(m)


def inside(part: Mask, region: Mask) -> float:
    """Fraction of the part's pixels that lie inside the object region (1 for an empty part or
    masks of different sizes)."""
    if tuple(part.size) != tuple(region.size) or part.area == 0:
        return 1.0
    return Mask.intersection([part, region]).area / part.area


def object_region(recognized: list[PartMask], obj: str, image: int) -> Mask | None:
    """The union of every recognised instance of ``obj`` in ``image`` (None when not recognised)."""
    same = [o.mask for o in recognized if o.image_index == image and o.label == obj]
    return Mask.union(same) if same else None


def dedupe(masks: list[PartMask]) -> list[PartMask]:
    """The masks without repeats (same image, object, label, kind and pixels), first kept."""
    seen, out = set(), []
    for m in masks:
        key = (m.image_index, m.object, m.label, m.kind, m.mask.counts)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out
