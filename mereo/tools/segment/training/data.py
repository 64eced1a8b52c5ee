"""Training and validation sets of PLUM-small built from SynthParts scenes.

One sample is one object of one scene: its description (with gold spans), the MiniLM token
embeddings of the description (frozen, computed once), the B/I/O tags, and one target mask per
span (empty for parts the object lacks or that are hidden). Sets are cached as ``.npz`` files
under ``data/`` (git-ignored), keyed by split, size and seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mereo.data.synthparts.scene import Scene
from mereo.tools.segment.spans import bio_tags
from mereo.tools.segment.text import Description, describe_spans, generate_description

#: Bumped whenever the way samples are built changes (recorded in the checkpoint manifest).
DATA_VERSION = "segment-v2"
MAX_TOKENS = 64


@dataclass
class SegmentSet:
    """Arrays of N samples drawn from M scenes (``S`` = image side, ``T`` tokens, ``K`` spans).

    Attributes:
        images: ``M x S x S x 3`` uint8.
        scene_of: ``N`` int, the scene of each sample.
        texts, objects: N descriptions and object names.
        spans: per sample ``(start, end, label)`` character spans.
        tokens: ``N x T x 384`` float16 MiniLM token embeddings.
        attention: ``N x T`` bool.
        offsets: ``N x T x 2`` int32 character offsets.
        tags: ``N x T`` int8 gold B/I/O tags.
        span_tokens: ``N x K x 2`` int16 token range ``[first, last + 1)`` per span, ``-1`` padding.
        targets: ``N x K x S x S/8`` packed bits (``np.packbits`` on the last axis) of the masks.
        visible: per sample, the object's visible part labels (the identification gold).
        part_maps: ``M x S x S`` uint8 dense part labels of every object of each scene
            (``1 + PART_LABELS.index(label)``, 0 elsewhere), the encoder's auxiliary target.
        object_maps: ``M x S x S`` uint8 dense object categories (``1 + CATEGORIES.index``).
    """

    images: np.ndarray
    scene_of: np.ndarray
    texts: list[str]
    objects: list[str]
    spans: list[list[tuple[int, int, str]]]
    tokens: np.ndarray
    attention: np.ndarray
    offsets: np.ndarray
    tags: np.ndarray
    span_tokens: np.ndarray
    targets: np.ndarray
    visible: list[list[str]]
    part_maps: np.ndarray
    object_maps: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_spans(self) -> np.ndarray:
        """``N`` int, spans per sample."""
        return (self.span_tokens[:, :, 0] >= 0).sum(1)

    def target_masks(self, idx: Sequence[int] | np.ndarray) -> np.ndarray:
        """``len(idx) x K x S x S`` bool target masks."""
        return np.unpackbits(self.targets[np.asarray(idx)], axis=-1).astype(bool)

    def save(self, path: str | Path) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp.npz")
        span_rows = [[f"{a}\t{b}\t{lab}" for a, b, lab in s] for s in self.spans]
        np.savez(
            tmp,
            images=self.images,
            scene_of=self.scene_of,
            texts=np.array(self.texts, dtype=object),
            objects=np.array(self.objects, dtype=object),
            spans=np.array(["\n".join(r) for r in span_rows], dtype=object),
            visible=np.array(["\n".join(v) for v in self.visible], dtype=object),
            tokens=self.tokens,
            attention=self.attention,
            offsets=self.offsets,
            tags=self.tags,
            span_tokens=self.span_tokens,
            targets=self.targets,
            part_maps=self.part_maps,
            object_maps=self.object_maps,
        )
        tmp.replace(p)

    @classmethod
    def load(cls, path: str | Path) -> SegmentSet:
        with np.load(path, allow_pickle=True) as z:  # our own cache file, written by save()
            rows = [[r.split("\t") for r in s.split("\n")] if s else [] for s in z["spans"].tolist()]
            spans = [[(int(a), int(b), lab) for a, b, lab in r] for r in rows]
            visible = [v.split("\n") if v else [] for v in z["visible"].tolist()]
            return cls(
                images=z["images"],
                scene_of=z["scene_of"],
                texts=z["texts"].tolist(),
                objects=z["objects"].tolist(),
                spans=spans,
                tokens=z["tokens"],
                attention=z["attention"],
                offsets=z["offsets"],
                tags=z["tags"],
                span_tokens=z["span_tokens"],
                targets=z["targets"],
                visible=visible,
                part_maps=z["part_maps"],
                object_maps=z["object_maps"],
            )


def _resize_image(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if mask.shape[0] == size and mask.shape[1] == size:
        return mask
    return (
        np.asarray(
            Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)
        )
        > 127
    )


def _resize_labels(labels: np.ndarray, size: int) -> np.ndarray:
    out = labels.astype(np.uint8)
    if out.shape[0] == size and out.shape[1] == size:
        return out
    return np.asarray(Image.fromarray(out).resize((size, size), Image.Resampling.NEAREST))


def scene_arrays(scene: Scene, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A scene's image ``S x S x 3`` and dense part / object label maps ``S x S`` at side ``size``."""
    from mereo.data.synthparts import CATEGORIES, PART_LABELS

    return (
        _resize_image(scene.image, size),
        _resize_labels(scene.part_label_map(sorted(PART_LABELS)), size),
        _resize_labels(scene.object_label_map(sorted(CATEGORIES)), size),
    )


def build_set(
    scenes: Iterable[Scene],
    part_vocab: Sequence[str],
    seed: int = 0,
    size: int = 128,
    plain: bool = False,
    max_lacking: int = 2,
    progress: bool = True,
) -> SegmentSet:
    """Build a set from scenes.

    Args:
        scenes: rendered scenes (each object with at least one visible part becomes a sample).
        part_vocab: every part name of the dataset (lacking parts are drawn from it).
        seed: seeds the description generator.
        size: image side the model reads (images and masks are resized to it).
        plain: use the agent's :func:`describe` text of the visible parts (the identification
            setting) instead of varied descriptions with lacking parts.
        max_lacking: at most this many lacking parts per varied description.
        progress: show a progress bar.
    """
    from mereo.text import get_encoder

    rng = np.random.default_rng(seed)
    images: list[np.ndarray] = []
    part_maps: list[np.ndarray] = []
    object_maps: list[np.ndarray] = []
    scene_of: list[int] = []
    descs: list[Description] = []
    masks: list[list[np.ndarray]] = []
    visible: list[list[str]] = []
    for scene in tqdm(scenes, desc="scenes", disable=not progress, leave=False):
        img_idx = len(images)
        image, part_map, object_map = scene_arrays(scene, size)
        images.append(image)
        part_maps.append(part_map)
        object_maps.append(object_map)
        for obj in scene.objects:
            vis = obj.visible_parts()
            if not vis:
                continue
            has = {p.label for p in obj.parts}
            if plain:
                desc = describe_spans(obj.category, vis)
            else:
                pool = [p for p in part_vocab if p not in has]
                hidden = sorted(has - set(vis))
                n_lack = int(rng.integers(0, max_lacking + 1))
                lacking = list(rng.choice(pool, size=min(n_lack, len(pool)), replace=False)) if pool else []
                if hidden and rng.random() < 0.3:
                    lacking.append(hidden[int(rng.integers(len(hidden)))])
                # sometimes list only some of the visible parts
                keep = vis if rng.random() < 0.7 else [v for v in vis if rng.random() < 0.7] or vis[:1]
                desc = generate_description(obj.category, keep, rng, lacking=[str(x) for x in lacking])
            scene_of.append(img_idx)
            descs.append(desc)
            visible.append(vis)
            masks.append([_resize_mask(obj.part_mask(lab), size) for _, _, lab in desc.spans])
    enc = get_encoder()
    n = len(descs)
    k_max = max([len(d.spans) for d in descs] + [1])
    texts = [d.text for d in descs]
    te_tokens = np.zeros((n, MAX_TOKENS, 384), dtype=np.float16)
    attention = np.zeros((n, MAX_TOKENS), dtype=bool)
    offsets = np.zeros((n, MAX_TOKENS, 2), dtype=np.int32)
    tags = np.full((n, MAX_TOKENS), -100, dtype=np.int8)
    span_tokens = np.full((n, k_max, 2), -1, dtype=np.int16)
    targets = np.zeros((n, k_max, size, size // 8), dtype=np.uint8)
    batch = 64
    for start in tqdm(range(0, n, batch), desc="MiniLM tokens", disable=not progress, leave=False):
        chunk = descs[start : start + batch]
        te = enc.tokens([d.text for d in chunk], max_length=MAX_TOKENS)
        t = te.embeddings.shape[1]
        te_tokens[start : start + len(chunk), :t] = te.embeddings.numpy().astype(np.float16)
        attention[start : start + len(chunk), :t] = te.attention_mask.numpy()
        for i, d in enumerate(chunk):
            row = start + i
            offs = te.offsets[i]
            offsets[row, :t] = np.asarray(offs, dtype=np.int32)
            real = te.attention_mask[i].numpy()
            row_tags = bio_tags(offs, d.spans)
            tags[row, :t] = np.where(real, row_tags, -100)
            for k, (a, b, _) in enumerate(d.spans):
                toks = [j for j, (x, y) in enumerate(offs) if y > x and x >= a and y <= b]
                if toks:
                    span_tokens[row, k] = (toks[0], toks[-1] + 1)
                targets[row, k] = np.packbits(masks[row][k], axis=-1)
    empty = np.zeros((0, size, size), np.uint8)
    return SegmentSet(
        images=np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8),
        scene_of=np.asarray(scene_of, dtype=np.int32),
        texts=texts,
        objects=[d.object for d in descs],
        spans=[d.spans for d in descs],
        tokens=te_tokens,
        attention=attention,
        offsets=offsets,
        tags=tags,
        span_tokens=span_tokens,
        targets=targets,
        visible=visible,
        part_maps=np.stack(part_maps) if part_maps else empty,
        object_maps=np.stack(object_maps) if object_maps else empty,
    )


def cached_set(
    split: str, n_scenes: int, seed: int, size: int = 128, plain: bool = False, data_dir: str | Path = "data"
) -> SegmentSet:
    """Build (or load from ``data_dir``) the set of ``n_scenes`` SynthParts scenes of ``split``."""
    from mereo.data.synthparts import PART_LABELS, generate_scenes

    name = f"{DATA_VERSION}_{split}_{n_scenes}_{seed}_{size}{'_plain' if plain else ''}.npz"
    path = Path(data_dir) / name
    if path.exists():
        return SegmentSet.load(path)
    scenes = generate_scenes(split, n_scenes, seed=seed, size=size)
    ds = build_set(
        tqdm(scenes, total=n_scenes, desc=f"render {split}"),
        sorted(PART_LABELS),
        seed=seed,
        size=size,
        plain=plain,
        progress=False,
    )
    ds.save(path)
    return ds
