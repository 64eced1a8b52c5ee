"""SynthParts scenes flattened into arrays for training and evaluating the feature encoders.

Rendering scenes takes a while, so a split is rendered once and cached as a compressed ``.npz``
under the data folder (``$MEREO_DATA_DIR``, default ``./data``; git-ignored). Both the
correspondence (DINOv2) and the recognition (CLIP) trainers read these arrays.

Per image the arrays hold the pixels, a per-pixel part label map and a per-pixel object map;
a part of one object is ``(objmap == k) & (partmap == p)`` because visible masks do not overlap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

#: ``objmap`` value of pixels that belong to no object.
NO_OBJECT = -1
#: ``partmap`` value of pixels that belong to no visible part (background or a hidden part).
NO_PART = -1
#: Objects per image kept in ``categories`` (SynthParts draws 1-3).
MAX_OBJECTS = 4


def data_dir() -> Path:
    """The cache folder: ``$MEREO_DATA_DIR`` or ``./data``."""
    return Path(os.environ.get("MEREO_DATA_DIR", "data"))


@dataclass
class SceneArrays:
    """A split of SynthParts as arrays.

    Attributes:
        images: ``N x H x W x 3`` uint8 RGB.
        partmap: ``N x H x W`` int16, index into ``part_labels`` or ``NO_PART``.
        objmap: ``N x H x W`` int8, index of the object in the image or ``NO_OBJECT``.
        categories: ``N x MAX_OBJECTS`` int16, index into ``category_names`` or -1.
        part_labels: the part vocabulary (SynthParts ``PART_LABELS``).
        category_names: the object vocabulary (SynthParts ``CATEGORIES``).
        split: the split rendered.
    """

    images: np.ndarray
    partmap: np.ndarray
    objmap: np.ndarray
    categories: np.ndarray
    part_labels: list[str]
    category_names: list[str]
    split: str

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def objects(self, i: int) -> list[tuple[int, str]]:
        """``(object index, category name)`` of image ``i``'s objects that are visible."""
        out = []
        for k, c in enumerate(self.categories[i]):
            if c >= 0 and (self.objmap[i] == k).any():
                out.append((k, self.category_names[int(c)]))
        return out

    def object_mask(self, i: int, k: int) -> np.ndarray:
        """``H x W`` bool mask of object ``k`` in image ``i``."""
        return self.objmap[i] == k

    def object_parts(self, i: int, k: int) -> dict[str, np.ndarray]:
        """Part label -> ``H x W`` bool mask, for the visible parts of object ``k`` in image ``i``."""
        obj = self.objmap[i] == k
        ids = np.unique(self.partmap[i][obj])
        return {self.part_labels[int(p)]: obj & (self.partmap[i] == p) for p in ids if p != NO_PART}


def scenes_to_arrays(
    scenes: list, part_labels: list[str], category_names: list[str], split: str
) -> SceneArrays:
    """Flatten rendered :class:`~mereo.data.synthparts.scene.Scene` objects into arrays."""
    n = len(scenes)
    h, w = scenes[0].image.shape[:2]
    images = np.zeros((n, h, w, 3), np.uint8)
    partmap = np.full((n, h, w), NO_PART, np.int16)
    objmap = np.full((n, h, w), NO_OBJECT, np.int8)
    categories = np.full((n, MAX_OBJECTS), -1, np.int16)
    part_index = {p: i for i, p in enumerate(part_labels)}
    cat_index = {c: i for i, c in enumerate(category_names)}
    for i, scene in enumerate(scenes):
        images[i] = scene.image
        # objects are in drawing order, so a later object's visible pixels win
        for k, obj in enumerate(scene.objects[:MAX_OBJECTS]):
            categories[i, k] = cat_index[obj.category]
            objmap[i][obj.mask] = k
            for part in obj.parts:
                if part.visible and part.label in part_index:
                    partmap[i][part.mask & obj.mask] = part_index[part.label]
    return SceneArrays(images, partmap, objmap, categories, list(part_labels), list(category_names), split)


def load_split(split: str, n: int, seed: int = 0, size: int = 128, cache: bool = True) -> SceneArrays:
    """Render (or read from the cache) ``n`` SynthParts scenes of ``split``.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"novel"``.
        n: number of scenes.
        seed: the generator's seed.
        size: image side in pixels.
        cache: read and write ``<data_dir>/synthparts_<split>_<n>_<seed>_<size>.npz``.
    """
    from mereo.data.synthparts import CATEGORIES, PART_LABELS, generate_scenes

    path = data_dir() / f"synthparts_{split}_{n}_{seed}_{size}.npz"
    if cache and path.exists():
        z = np.load(path, allow_pickle=False)
        return SceneArrays(
            z["images"],
            z["partmap"],
            z["objmap"],
            z["categories"],
            [str(s) for s in z["part_labels"]],
            [str(s) for s in z["category_names"]],
            split,
        )
    scenes = list(
        tqdm(generate_scenes(split, n, seed=seed, size=size), total=n, desc=f"render {split}", leave=False)
    )
    arrays = scenes_to_arrays(scenes, list(PART_LABELS), list(CATEGORIES), split)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp,
            images=arrays.images,
            partmap=arrays.partmap,
            objmap=arrays.objmap,
            categories=arrays.categories,
            part_labels=np.array(arrays.part_labels),
            category_names=np.array(arrays.category_names),
        )
        os.replace(tmp, path)
    return arrays
