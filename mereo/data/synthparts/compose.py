"""Scene composition: background, clutter, 1-3 posed objects with textures, occlusion, exact masks.

Scene ``i`` of a split is drawn from its own generator seeded by ``(split, seed, i)``, so any single
scene can be regenerated alone (:func:`generate_scene`) and the splits never share a stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mereo.data.synthparts import textures as tx
from mereo.data.synthparts.draw import Pose, Shape, ellipse, line, object_extent, poly, rasterize
from mereo.data.synthparts.scene import Scene, SceneObject, ScenePart
from mereo.data.synthparts.templates import CATEGORIES, NOVEL_CATEGORIES, TRAIN_CATEGORIES
from mereo.errors import DatasetError

#: Each split's seed stream; scenes of different splits come from different streams.
SPLIT_STREAMS = {"train": 1, "val": 2, "test": 3, "novel": 4}
#: An object keeps its place only if at least this fraction of its pixels stays visible.
MIN_OBJECT_VISIBLE = 0.35
MIN_SIZE = 32


@dataclass
class _Layer:
    mask: np.ndarray  # H x W bool, full extent
    colour: np.ndarray  # (3,) base colour
    texture: str
    outline: bool
    owner: tuple[int, int] | None  # (object index, part index), None for clutter


def scene_rng(split: str, seed: int, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of ``split`` for base ``seed``."""
    if split not in SPLIT_STREAMS:
        raise DatasetError(f"unknown SynthParts split {split!r}; choose from {', '.join(SPLIT_STREAMS)}")
    if seed < 0 or index < 0:
        raise DatasetError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    return np.random.default_rng(np.random.SeedSequence([0x5E9D, SPLIT_STREAMS[split], seed, index]))


def _pick_categories(rng: np.random.Generator, split: str) -> list[str]:
    n = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
    if split != "novel":
        return [str(c) for c in rng.choice(TRAIN_CATEGORIES, size=n)]
    cats = [str(rng.choice(NOVEL_CATEGORIES))]
    for _ in range(n - 1):
        pool = NOVEL_CATEGORIES if rng.random() < 0.6 else TRAIN_CATEGORIES
        cats.append(str(rng.choice(pool)))
    rng.shuffle(cats)
    return cats


def _pose(rng: np.random.Generator, shapes: list[Shape], n_objects: int, size: int) -> Pose:
    """A random pose that keeps the object inside the image."""
    lo, hi = {1: (0.3, 0.46), 2: (0.22, 0.36), 3: (0.18, 0.3)}[n_objects]
    scale = size * float(rng.uniform(lo, hi))
    pose = Pose(
        0.0,
        0.0,
        scale,
        angle=float(rng.normal(0.0, 0.12)),
        mirror=bool(rng.random() < 0.5),
        aspect=float(rng.uniform(0.85, 1.15)),
    )
    x0, y0, x1, y1 = object_extent(shapes)
    corners = pose.apply(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    (px0, py0), (px1, py1) = corners.min(axis=0), corners.max(axis=0)
    span_x, span_y = px1 - px0, py1 - py0
    fit = min(1.0, (size - 2) / max(span_x, 1e-6), (size - 2) / max(span_y, 1e-6))
    if fit < 1.0:  # shrink to fit
        pose = Pose(0.0, 0.0, scale * fit, pose.angle, pose.mirror, pose.aspect)
        px0, py0, px1, py1 = px0 * fit, py0 * fit, px1 * fit, py1 * fit
    cx = float(rng.uniform(1 - px0, max(1 - px0, size - 1 - px1)))
    cy = float(rng.uniform(1 - py0, max(1 - py0, size - 1 - py1)))
    return Pose(cx, cy, pose.scale, pose.angle, pose.mirror, pose.aspect)


def _clutter(rng: np.random.Generator, size: int) -> list[np.ndarray]:
    """0-4 distractor shapes (not objects of any category), as ``H x W`` masks."""
    out = []
    for _ in range(int(rng.integers(0, 5))):
        cx, cy = rng.uniform(0, size, 2)
        r = float(rng.uniform(0.04, 0.2)) * size
        kind = rng.integers(3)
        if kind == 0:
            shape = ellipse(0.0, 0.0, 1.0, float(rng.uniform(0.3, 1.0)), angle=float(rng.uniform(0, math.pi)))
        elif kind == 1:
            shape = poly(rng.uniform(-1, 1, (int(rng.integers(3, 6)), 2)))
        else:
            shape = line(rng.uniform(-1.5, 1.5, (int(rng.integers(2, 4)), 2)), float(rng.uniform(0.05, 0.2)))
        out.append(rasterize([shape], Pose(float(cx), float(cy), r), size, size))
    return out


def _object_style(rng: np.random.Generator, labels: list[str]) -> dict[str, tuple[np.ndarray, str]]:
    """Per-label colour and texture for one object; independent of what the labels are."""
    palette = [tx.random_colour(rng) for _ in range(int(rng.integers(1, 4)))]
    textures = [str(rng.choice(tx.TEXTURES)) for _ in range(int(rng.integers(1, 3)))]
    style = {}
    for label in sorted(set(labels)):
        r = rng.random()
        colour = tx.random_colour(rng) if r < 0.25 else palette[int(rng.integers(len(palette)))]
        if 0.25 <= r < 0.6:
            colour = tx.jitter_colour(rng, colour)
        style[label] = (colour, textures[int(rng.integers(len(textures)))])
    return style


def generate_scene(split: str, seed: int, index: int, size: int = 128) -> Scene:
    """Render scene ``index`` of ``split`` (base ``seed``) at ``size x size`` pixels."""
    if size < MIN_SIZE:
        raise DatasetError(f"SynthParts images must be at least {MIN_SIZE} pixels wide, got {size}")
    rng = scene_rng(split, seed, index)
    cats = _pick_categories(rng, split)
    canvas = tx.background(rng, size, size)
    layers: list[_Layer] = []
    for m in _clutter(rng, size):
        layers.append(_Layer(m, tx.random_colour(rng), str(rng.choice(tx.TEXTURES)), False, None))
    front_clutter = [
        _Layer(m, tx.random_colour(rng), str(rng.choice(tx.TEXTURES)), False, None)
        for m in (_clutter(rng, size)[:1] if rng.random() < 0.25 else [])
    ]

    objects: list[SceneObject] = []
    for cat in cats:
        template = CATEGORIES[cat]
        parts = template.build(rng)
        style = _object_style(rng, [label for label, _ in parts])
        outline = bool(rng.random() < 0.5)
        for _attempt in range(8):
            pose = _pose(rng, [s for _, s in parts], len(cats), size)
            masks = [rasterize([s], pose, size, size) for _, s in parts]
            candidate = [
                _Layer(m, *style[label], outline, (len(objects), j))
                for j, ((label, _), m) in enumerate(zip(parts, masks, strict=True))
            ]
            union = np.logical_or.reduce(masks)
            # the new object is in front: it must not hide the earlier ones too much
            ok = all((obj.mask & ~union).sum() >= MIN_OBJECT_VISIBLE * obj.mask.sum() for obj in objects)
            if ok and union.any():
                break
        else:
            continue  # no placement keeps every object visible enough; leave this one out
        layers.extend(candidate)
        obj = SceneObject(cat, template.supercategory, union.copy(), depth=len(objects))
        obj.parts = [ScenePart(label, m, int(m.sum())) for (label, _), m in zip(parts, masks, strict=True)]
        objects.append(obj)
        _update_visibility(objects, layers + front_clutter)
    layers.extend(front_clutter)
    _update_visibility(objects, layers)
    objects = [o for o in objects if o.visible_parts()]
    for i, o in enumerate(objects):
        o.depth = i
    image = _paint(rng, canvas, layers)
    return Scene(image=image, objects=objects, split=split, seed=seed, index=index)


def _update_visibility(objects: list[SceneObject], layers: list[_Layer]) -> None:
    """Recompute every part's visible mask (and each object's) from the layer order."""
    covered = np.zeros(layers[0].mask.shape if layers else (1, 1), dtype=bool)
    for layer in reversed(layers):
        if layer.owner is not None and layer.owner[0] < len(objects):
            oi, pi = layer.owner
            objects[oi].parts[pi].mask = layer.mask & ~covered
        covered |= layer.mask
    for obj in objects:
        obj.mask = np.logical_or.reduce([p.mask for p in obj.parts])


def _paint(rng: np.random.Generator, canvas: np.ndarray, layers: list[_Layer]) -> np.ndarray:
    """Paint layers back to front onto ``canvas`` (``H x W x 3`` float); returns uint8 RGB."""
    for layer in layers:
        rows: np.ndarray = np.asarray(layer.mask.any(axis=1))
        cols: np.ndarray = np.asarray(layer.mask.any(axis=0))
        if not rows.any():
            continue
        y0, y1 = int(rows.argmax()), rows.shape[0] - int(rows[::-1].argmax())
        x0, x1 = int(cols.argmax()), cols.shape[0] - int(cols[::-1].argmax())
        sub = layer.mask[y0:y1, x0:x1]
        tex = tx.texture(rng, y1 - y0, x1 - x0, layer.colour, layer.texture)
        if layer.outline:
            edge = tx.outline(sub)
            tex[edge] = layer.colour * 0.45
        region = canvas[y0:y1, x0:x1]
        region[sub] = tex[sub]
    if rng.random() < 0.6:
        canvas += rng.normal(0.0, float(rng.uniform(1, 8)), canvas.shape[:2] + (1,)).astype(np.float32)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def _one(args: tuple[str, int, int, int]) -> Scene:
    return generate_scene(*args)


def _packed(args: tuple[str, int, int, int]) -> tuple[Scene, list[np.ndarray]]:
    """Render in a worker and bit-pack the masks (8x less to send back to the parent process)."""
    scene = generate_scene(*args)
    packed = []
    for obj in scene.objects:
        packed.append(np.packbits(obj.mask))
        obj.mask = _EMPTY
        for p in obj.parts:
            packed.append(np.packbits(p.mask))
            p.mask = _EMPTY
    return scene, packed


def _unpack(item: tuple[Scene, list[np.ndarray]]) -> Scene:
    scene, packed = item
    h, w = scene.image.shape[:2]
    it = iter(packed)
    for obj in scene.objects:
        obj.mask = np.unpackbits(next(it), count=h * w).reshape(h, w).astype(bool)
        for p in obj.parts:
            p.mask = np.unpackbits(next(it), count=h * w).reshape(h, w).astype(bool)
    return scene


_EMPTY = np.zeros((0, 0), dtype=bool)


def generate_scenes(
    split: str, n: int, seed: int = 0, size: int = 128, *, start: int = 0, workers: int = 1
) -> Iterator[Scene]:
    """Yield scenes ``start .. start + n - 1`` of ``split`` in order.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"novel"``.
        n: number of images.
        seed: base seed; with ``(split, seed, i)`` it fixes scene ``i`` bit for bit.
        size: image side in pixels.
        start: index of the first scene (to shard a split).
        workers: processes to render with (1 = in this process); the output is the same.
    """
    if split not in SPLIT_STREAMS:
        raise DatasetError(f"unknown SynthParts split {split!r}; choose from {', '.join(SPLIT_STREAMS)}")
    if n < 0:
        raise DatasetError(f"n must be >= 0, got {n}")
    jobs = [(split, seed, start + i, size) for i in range(n)]
    if workers <= 1 or n < 16:
        for job in jobs:
            yield _one(job)
        return
    import multiprocessing as mp

    with mp.get_context("fork").Pool(workers) as pool:
        for item in pool.imap(_packed, jobs, chunksize=64):
            yield _unpack(item)
