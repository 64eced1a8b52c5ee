"""Fresh SynthParts scenes as training tensors for the shared encoder.

Every training step renders new scenes: scene ``i`` of the ``train`` split (base seed ``seed``) is
the ``i``-th scene the encoder ever sees, so a resumed run continues the same stream and no scene
repeats. Rendering is cheap next to a training step (the trainer logs both), so it runs inline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mereo.data.arrays import NO_OBJECT, NO_PART, SceneArrays, scenes_to_arrays
from mereo.tools.segment.evidence import zoom_box

#: zoomed views (``--zoom``): the square's margin on each side, as a share of the object's size
#: (inference uses 0.35), its random shift as a share of its side, and its largest side as a
#: share of the image's
ZOOM_MARGINS = (0.25, 0.5)
ZOOM_JITTER = 0.08
ZOOM_MAX_SHARE = 0.8


@dataclass
class Batch:
    """Tensors of ``B`` scenes at image size ``S``.

    Attributes:
        images: ``B x 3 x S x S`` float pixels in [0, 255] (channels_last).
        part: ``B x S x S`` long, 0 = no part, ``1 + index`` into the part labels.
        cat: ``B x S x S`` long, 0 = no object, ``1 + index`` into the category names.
        inst: ``B x S x S`` long, object index in its scene or -1.
        categories: ``B x 4`` long, per object index its category index or -1.
    """

    images: torch.Tensor
    part: torch.Tensor
    cat: torch.Tensor
    inst: torch.Tensor
    categories: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])


def arrays_to_batch(arr: SceneArrays, idx: np.ndarray | None = None, flip: np.ndarray | None = None) -> Batch:
    """Tensors of the scenes ``idx`` of ``arr`` (all when None); ``flip[i]`` mirrors scene ``i``."""
    sel = np.arange(len(arr)) if idx is None else np.asarray(idx)
    images = arr.images[sel].astype(np.float32)
    partmap = arr.partmap[sel].astype(np.int64)
    objmap = arr.objmap[sel].astype(np.int64)
    cats = arr.categories[sel].astype(np.int64)
    if flip is not None and flip.any():
        images[flip] = images[flip][:, :, ::-1]
        partmap[flip] = partmap[flip][:, :, ::-1]
        objmap[flip] = objmap[flip][:, :, ::-1]
    part = np.where(partmap == NO_PART, 0, partmap + 1)
    per_pixel = np.take_along_axis(cats + 1, objmap.clip(min=0).reshape(len(sel), -1), axis=1)
    cat = np.where(objmap == NO_OBJECT, 0, per_pixel.reshape(objmap.shape))
    img = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return Batch(
        images=img.contiguous(memory_format=torch.channels_last),
        part=torch.from_numpy(np.ascontiguousarray(part)),
        cat=torch.from_numpy(np.ascontiguousarray(cat)),
        inst=torch.from_numpy(np.ascontiguousarray(objmap)),
        categories=torch.from_numpy(cats),
    )


def render_arrays(split: str, seed: int, start: int, n: int, size: int) -> SceneArrays:
    """Render scenes ``start .. start + n - 1`` of ``split`` as arrays (all 32 categories indexed)."""
    from mereo.data.synthparts import CATEGORIES, PART_LABELS, generate_scene

    scenes = [generate_scene(split, seed, start + i, size) for i in range(n)]
    return scenes_to_arrays(scenes, list(PART_LABELS), list(CATEGORIES), split)


def render_batch(seed: int, start: int, n: int, size: int, flip: bool = True, zoom: float = 0.0) -> Batch:
    """Fresh training scenes ``start .. start + n - 1``; half mirrored and a ``zoom`` share seen
    zoomed in on one of their objects (both chosen from ``start``)."""
    arr = render_arrays("train", seed, start, n, size)
    rng = np.random.default_rng([seed, start, 17])
    mirror = rng.random(n) < 0.5 if flip else None
    batch = arrays_to_batch(arr, flip=mirror)
    return zoom_views(batch, rng, zoom) if zoom > 0 else batch


def zoom_views(b: Batch, rng: np.random.Generator, share: float) -> Batch:
    """Replace about ``share`` of the scenes by a zoomed view of one of their objects, as the
    closer look and the zoomed segmentation see it at inference
    (:func:`~mereo.tools.segment.evidence.zoom_box`): a square around the object's visible pixels,
    :data:`ZOOM_MARGINS` of its size wider on each side, moved by up to :data:`ZOOM_JITTER` of its
    side, cut out of the image and resized (bilinear; labels nearest) to the full side. Scenes
    whose square would be under 16 pixels or over :data:`ZOOM_MAX_SHARE` of the side stay whole."""
    size = int(b.images.shape[-1])
    images, part, cat, inst = b.images.clone(), b.part.clone(), b.cat.clone(), b.inst.clone()
    for i in np.flatnonzero(rng.random(len(b)) < share):
        owners = torch.unique(inst[i])
        owners = owners[owners >= 0]
        if len(owners) == 0:
            continue
        mask = (inst[i] == owners[int(rng.integers(len(owners)))]).numpy()
        margin = rng.uniform(*ZOOM_MARGINS)
        box = zoom_box(mask, margin)
        if box is None or not 16 <= box[2] <= ZOOM_MAX_SHARE * size:
            continue
        dy, dx = rng.uniform(-ZOOM_JITTER, ZOOM_JITTER, 2) * box[2]
        top, left, side = zoom_box(mask, margin, (dy, dx)) or box
        win = (slice(top, top + side), slice(left, left + side))
        images[i] = F.interpolate(
            b.images[i : i + 1, :, win[0], win[1]], size=(size, size), mode="bilinear", align_corners=False
        )[0]
        for dst, src in ((part, b.part), (cat, b.cat), (inst, b.inst)):
            crop = src[i][win].float()[None, None]
            dst[i] = F.interpolate(crop, size=(size, size), mode="nearest")[0, 0].long()
    return Batch(
        images=images.contiguous(memory_format=torch.channels_last),
        part=part,
        cat=cat,
        inst=inst,
        categories=b.categories,
    )
