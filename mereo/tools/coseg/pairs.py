"""The gold answer of a co-segmentation task for an image pair (Calico's definitions).

- common objects: object names present in both images; each image's masks of those objects.
- common parts: the parts of each image's object that the other image's object also has (by
  name: visible there, or listed for it by the knowledge base).
- unique parts: the parts of each image's object that the other image's object lacks.

For the part tasks, "the image's object" is its main object: the object with the most visible
pixels (SynthParts draws 1-3 objects; MixedParts pairs are built around one object per image).
The same code gives the training targets, the eval gold and the ``oracle`` backend's answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mereo.tools.base import CosegTask
from mereo.types import Mask, PartMask


@dataclass
class ObjectGold:
    """One object of an image.

    Attributes:
        category: the object name.
        mask: ``H x W`` bool visible pixels.
        parts: part name -> ``H x W`` bool visible pixels (instances unioned).
    """

    category: str
    mask: np.ndarray
    parts: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class GoldItem:
    """One labelled mask of a task's answer (``mask`` is ``H x W`` bool)."""

    image_index: int
    label: str
    object: str | None
    mask: np.ndarray
    kind: str = "part"


def to_partmasks(items: Sequence[GoldItem], source: str = "gold") -> list[PartMask]:
    """GoldItems (numpy masks) -> PartMasks (COCO RLE)."""
    return [
        PartMask(
            label=g.label,
            object=g.object,
            image_index=g.image_index,
            mask=Mask.from_numpy(g.mask),
            score=1.0,
            source=source,
            kind=g.kind,
        )
        for g in items
    ]


def main_object(objects: Sequence[ObjectGold]) -> ObjectGold | None:
    """The object with the most visible pixels (ties: the first), or None."""
    visible = [o for o in objects if o.area > 0]
    return max(visible, key=lambda o: o.area) if visible else None


def objects_from_partmasks(parts: Sequence[PartMask]) -> list[ObjectGold]:
    """Group gold PartMasks (``kind`` "object" and "part") of one image into objects.

    Parts are attached to the object whose name is their ``object``; masks of one name unioned.
    """
    objects: dict[str, ObjectGold] = {}
    for p in parts:
        if p.kind == "object":
            m = p.mask.to_numpy()
            if p.label in objects:
                objects[p.label].mask |= m
            else:
                objects[p.label] = ObjectGold(p.label, m)
    for p in parts:
        if p.kind != "part" or p.object is None:
            continue
        obj = objects.get(p.object)
        if obj is None:
            obj = objects[p.object] = ObjectGold(p.object, p.mask.to_numpy().copy())
        m = p.mask.to_numpy()
        obj.parts[p.label] = obj.parts[p.label] | m if p.label in obj.parts else m
    return list(objects.values())


def task_answer(
    image_a: Sequence[ObjectGold],
    image_b: Sequence[ObjectGold],
    task: CosegTask,
    kb_parts: Callable[[str], Sequence[str]] | None = None,
) -> list[GoldItem]:
    """The gold answer of ``task`` for a pair.

    Args:
        image_a, image_b: each image's objects.
        task: one of ``COSEG_TASKS``.
        kb_parts: object name -> the knowledge base's part names; None uses only visible parts.

    Returns:
        GoldItems with ``image_index`` 0 or 1, one per label per image, sorted by (image, label).
    """
    sides = (list(image_a), list(image_b))
    out: list[GoldItem] = []
    if task == "common_objects":
        names = [{o.category for o in s if o.area > 0} for s in sides]
        common = names[0] & names[1]
        for idx, side in enumerate(sides):
            for name in sorted(common):
                mask = np.logical_or.reduce([o.mask for o in side if o.category == name])
                out.append(GoldItem(idx, name, name, mask, kind="object"))
        return out
    mains = [main_object(s) for s in sides]
    if mains[0] is None or mains[1] is None:
        return out
    for idx in (0, 1):
        mine, other = mains[idx], mains[1 - idx]
        assert mine is not None and other is not None
        has = set(other.parts) | set(kb_parts(other.category) if kb_parts else ())
        for label in sorted(mine.parts):
            if not mine.parts[label].any():
                continue
            shared = label in has
            if shared == (task == "common_parts"):
                out.append(GoldItem(idx, label, mine.category, mine.parts[label]))
    return out


def default_kb_parts() -> Callable[[str], list[str]]:
    """``PartHierarchy.default().parts_of`` with unknown objects giving no parts."""
    from mereo.knowledge.hierarchy import PartHierarchy

    kb = PartHierarchy.default()

    def parts(name: str) -> list[str]:
        return kb.parts_of(name) if kb.has_object(name) else []

    return parts
