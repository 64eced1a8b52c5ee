"""The in-memory result of rendering one SynthParts image.

Masks here are numpy ``H x W`` bool arrays (training code wants arrays); exports and the agent
convert them to :class:`mereo.types.Mask` (COCO RLE).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: A part instance whose visible fraction is below this is dropped from the gold answers.
VISIBLE_FRACTION = 0.3
#: ... and so is one with fewer visible pixels than this.
MIN_PART_PIXELS = 4


@dataclass
class ScenePart:
    """One part instance (e.g. one leg).

    Attributes:
        label: the taxonomy's part name, singular (``"leg"``).
        mask: visible pixels, ``H x W`` bool.
        full_area: pixels the part would cover without occlusion.
    """

    label: str
    mask: np.ndarray
    full_area: int

    @property
    def visible_fraction(self) -> float:
        return float(self.mask.sum()) / max(1, self.full_area)

    @property
    def visible(self) -> bool:
        return int(self.mask.sum()) >= MIN_PART_PIXELS and self.visible_fraction >= VISIBLE_FRACTION


@dataclass
class SceneObject:
    """One object instance.

    Attributes:
        category: object name from the knowledge base (``"chair"``).
        supercategory: e.g. ``"seating"``, ``"vehicle"``, ``"animal"``, ``"tableware"``.
        mask: visible pixels of the whole object, ``H x W`` bool.
        parts: every part instance drawn (visible or not).
        depth: drawing order (higher is in front).
    """

    category: str
    supercategory: str
    mask: np.ndarray
    parts: list[ScenePart] = field(default_factory=list)
    depth: int = 0

    def visible_parts(self) -> list[str]:
        """Sorted unique labels of the parts that are visible enough to count."""
        return sorted({p.label for p in self.parts if p.visible})

    def part_mask(self, label: str) -> np.ndarray:
        """Union of the visible instances of ``label`` (visible enough to count)."""
        out = np.zeros(self.mask.shape, dtype=bool)
        for p in self.parts:
            if p.label == label and p.visible:
                out |= p.mask
        return out


@dataclass
class Scene:
    """One rendered image with exact masks.

    Attributes:
        image: ``H x W x 3`` uint8 RGB.
        objects: objects in drawing order (back to front).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"novel"``.
        seed: the base seed this scene was drawn from (same seed, same bytes).
        index: the scene's index in its split; ``generate_scene(split, seed, index, size)``
            renders it again alone.
    """

    image: np.ndarray
    objects: list[SceneObject]
    split: str
    seed: int
    index: int = 0

    @property
    def uid(self) -> str:
        """A name unique across splits and seeds, e.g. ``"test-0-000042"``."""
        return f"{self.split}-{self.seed}-{self.index:06d}"

    def part_label_map(self, labels: tuple[str, ...] | list[str]) -> np.ndarray:
        """``H x W`` int64 map: ``1 + labels.index(part)`` where a counted part is visible, else 0.

        Only parts visible enough to count (:attr:`ScenePart.visible`) are drawn into the map.
        """
        index = {name: i + 1 for i, name in enumerate(labels)}
        out = np.zeros(self.image.shape[:2], dtype=np.int64)
        for obj in self.objects:
            for p in obj.parts:
                if p.visible and p.label in index:
                    out[p.mask] = index[p.label]
        return out

    def object_label_map(self, categories: tuple[str, ...] | list[str]) -> np.ndarray:
        """``H x W`` int64 map: ``1 + categories.index(category)`` on each object's pixels, else 0."""
        index = {name: i + 1 for i, name in enumerate(categories)}
        out = np.zeros(self.image.shape[:2], dtype=np.int64)
        for obj in self.objects:
            out[obj.mask] = index.get(obj.category, 0)
        return out
