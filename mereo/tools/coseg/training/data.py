"""Training and validation pairs for Calico-small, built from SynthParts scenes.

A split is rendered once (shared with the encoder trainers through
:func:`mereo.data.arrays.load_split`), its images are encoded once by the frozen
encoders and the tokens cached under the data folder, so training runs only the small trainable
modules. Pairs are drawn on the fly: for each task a pair is chosen so that the answer is usually
not empty (two images that share an object; two main objects that share a part), with some
random pairs so that empty answers are learned too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from mereo.data.arrays import SceneArrays, data_dir, load_split
from mereo.tools.base import COSEG_TASKS, CosegTask
from mereo.tools.coseg.features import CLIP_NAME, DINO_NAME, FrozenEncoders, pixels_at
from mereo.tools.coseg.pairs import GoldItem, ObjectGold, main_object, task_answer


def scene_objects(arrays: SceneArrays, i: int) -> list[ObjectGold]:
    """Image ``i``'s visible objects with their visible parts (full-resolution bool masks)."""
    return [
        ObjectGold(name, arrays.object_mask(i, k), arrays.object_parts(i, k)) for k, name in arrays.objects(i)
    ]


def downsample_masks(masks: np.ndarray, side: int) -> torch.Tensor:
    """``N x H x W`` bool -> ``N x side x side`` float coverage in ``[0, 1]`` (area pooling)."""
    t = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.float32))
    if t.shape[-1] == side and t.shape[-2] == side:
        return t
    return F.adaptive_avg_pool2d(t[None], (side, side))[0]


@dataclass
class EncodedSplit:
    """A rendered split and its frozen-encoder tokens.

    Attributes:
        arrays: the scenes as arrays.
        clip: ``N x S_c x D_c`` float16 tokens.
        dino: ``N x S_s x D_s`` float16 tokens.
    """

    arrays: SceneArrays
    clip: torch.Tensor
    dino: torch.Tensor


def encode_tokens(
    images: np.ndarray, encoder: Any, name: str, sha256: str, stem: str, batch: int = 64, cache: bool = True
) -> torch.Tensor:
    """``N x S x D`` float16 tokens of ``images`` by one frozen encoder, cached per encoder.

    The cache file is ``<data_dir>/coseg_tokens_<stem>_<name>_<sha256[:10]>.safetensors``: a
    retrained encoder has another sha256, hence another file.
    """
    path = Path(data_dir()) / f"coseg_tokens_{stem}_{name}_{sha256[:10]}.safetensors"
    if cache and path.exists():
        return load_file(str(path))["tokens"]
    chunks = [
        encoder.encode_batch(images[s : s + batch]).half()
        for s in tqdm(range(0, len(images), batch), desc=f"encode {stem} ({name})", leave=False)
    ]
    tokens = torch.cat(chunks).contiguous()
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"tokens": tokens}, str(tmp))
        tmp.replace(path)
    return tokens


def encode_split(
    split: str,
    n: int,
    encoders: FrozenEncoders,
    seed: int = 0,
    size: int = 128,
    batch: int = 64,
    cache: bool = True,
) -> EncodedSplit:
    """Render (or load) ``n`` scenes of ``split`` and encode them with both encoders (or load the tokens)."""
    arrays = load_split(split, n, seed=seed, size=size, cache=cache)
    stem = f"{split}_{n}_{seed}_{size}"

    def tokens(encoder: Any, name: str) -> torch.Tensor:
        return encode_tokens(
            arrays.images, encoder, name, str(encoders.sources[name]["sha256"]), stem, batch, cache
        )

    return EncodedSplit(arrays, tokens(encoders.clip, CLIP_NAME), tokens(encoders.dino, DINO_NAME))


@dataclass
class PairBatch:
    """A batch of ``B`` pairs.

    Attributes:
        clip: ``B x 2 x S_c x D_c``; dino: ``B x 2 x S_s x D_s``.
        pixels: ``B x 2 x 3 x M x M`` in ``[0, 1]``.
        task: ``B`` task indices.
        targets: per pair, per image: ``(label indices G, masks G x M x M coverage)``: the answer.
        extra: per pair, per image, the same for names that are not in the answer but visible
            (the main object's other parts; the other objects): extra mask supervision only.
        presence: per pair, per image, ``(visible, had)`` label indices: the names visible in the
            image, and the names its main object has (visible or by the knowledge base).
        pairs: the ``(i, j)`` image indices of each pair.
    """

    clip: torch.Tensor
    dino: torch.Tensor
    pixels: torch.Tensor
    task: torch.Tensor
    targets: list[list[tuple[torch.Tensor, torch.Tensor]]]
    pairs: list[tuple[int, int]]
    extra: list[list[tuple[torch.Tensor, torch.Tensor]]] | None = None
    presence: list[list[tuple[torch.Tensor, torch.Tensor]]] | None = None


class PairIndex:
    """Scenes indexed for drawing pairs whose task answer is usually not empty.

    Args:
        arrays: the rendered split.
        kb_parts: object name -> the knowledge base's parts (for the part tasks' definitions).
        random_pair_fraction: share of pairs drawn uniformly (mostly empty answers).
    """

    def __init__(
        self,
        arrays: SceneArrays,
        kb_parts: Callable[[str], Sequence[str]],
        random_pair_fraction: float = 0.15,
    ):
        self.arrays = arrays
        self.kb_parts = kb_parts
        self.random_fraction = random_pair_fraction
        self.objects = [scene_objects(arrays, i) for i in range(len(arrays))]
        self.by_category: dict[str, list[int]] = defaultdict(list)
        self.main_parts: list[set[str]] = []
        for i, objs in enumerate(self.objects):
            for name in {o.category for o in objs}:
                self.by_category[name].append(i)
            main = main_object(objs)
            self.main_parts.append(set(main.parts) | set(kb_parts(main.category)) if main else set())
        self.by_part: dict[str, list[int]] = defaultdict(list)
        for i, parts in enumerate(self.main_parts):
            for p in parts:
                self.by_part[p].append(i)

    def __len__(self) -> int:
        return len(self.objects)

    def draw_pair(self, rng: np.random.Generator, task: CosegTask) -> tuple[int, int]:
        """Image indices ``(i, j)`` for ``task``: sharing an object (common objects) or a part."""
        n = len(self.objects)
        i = int(rng.integers(n))
        if rng.random() < self.random_fraction:
            return i, int(rng.integers(n))
        if task == "common_objects":
            names = sorted({o.category for o in self.objects[i]})
            pool = self.by_category[names[int(rng.integers(len(names)))]] if names else []
        else:
            parts = sorted(self.main_parts[i])
            pool = self.by_part[parts[int(rng.integers(len(parts)))]] if parts else []
        j = int(pool[int(rng.integers(len(pool)))]) if pool else int(rng.integers(n))
        return i, j

    def gold(self, i: int, j: int, task: CosegTask) -> list[GoldItem]:
        """The gold answer of ``task`` for images ``i`` (index 0) and ``j`` (index 1)."""
        return task_answer(self.objects[i], self.objects[j], task, self.kb_parts)

    def fixed_pairs(self, per_task: int, seed: int) -> list[tuple[int, int, CosegTask]]:
        """``per_task`` pairs per task of two different images with a non-empty answer."""
        rng = np.random.default_rng(seed)
        out: list[tuple[int, int, CosegTask]] = []
        for task in COSEG_TASKS:
            got = tries = 0
            while got < per_task and tries < per_task * 50:
                tries += 1
                i, j = self.draw_pair(rng, task)
                if i != j and self.gold(i, j, task):
                    out.append((i, j, task))
                    got += 1
        return out


class PairSampler(PairIndex):
    """Draws task-balanced training batches from an encoded split.

    Args:
        data: the encoded split.
        vocab_index: ``kind -> {name: index}`` for ``"object"`` and ``"part"`` labels.
        kb_parts: object name -> the knowledge base's parts.
        mask_side: ``M``, the side of the target masks.
        random_pair_fraction: share of pairs drawn uniformly (mostly empty answers).
    """

    def __init__(
        self,
        data: EncodedSplit,
        vocab_index: dict[str, dict[str, int]],
        kb_parts: Callable[[str], Sequence[str]],
        mask_side: int,
        random_pair_fraction: float = 0.15,
    ):
        super().__init__(data.arrays, kb_parts, random_pair_fraction)
        self.data = data
        self.vocab_index = vocab_index
        self.side = mask_side
        self.pixels = pixels_at(data.arrays.images, mask_side)

    def batch(
        self, rng: np.random.Generator, size: int, tasks: Sequence[CosegTask] | None = None, extra: int = 0
    ) -> PairBatch:
        """Draw ``size`` pairs (random tasks unless given); see :meth:`make_batch` for ``extra``."""
        tasks = list(tasks) if tasks is not None else [COSEG_TASKS[int(rng.integers(3))] for _ in range(size)]
        pairs = [self.draw_pair(rng, t) for t in tasks]
        return self.make_batch(pairs, tasks, extra)

    def _encode_items(
        self, named: Sequence[tuple[str, np.ndarray]], kind: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        named = [(n, m) for n, m in named if n in self.vocab_index[kind]]
        labels = torch.tensor([self.vocab_index[kind][n] for n, _ in named], dtype=torch.long)
        if not named:
            return labels, torch.zeros(0, self.side, self.side)
        return labels, downsample_masks(np.stack([m for _, m in named]), self.side)

    def visible(self, i: int, kind: str) -> dict[str, np.ndarray]:
        """Image ``i``'s nameable regions: objects (by name), or the main object's parts."""
        if kind == "object":
            out: dict[str, np.ndarray] = {}
            for o in self.objects[i]:
                out[o.category] = out[o.category] | o.mask if o.category in out else o.mask
            return out
        main = main_object(self.objects[i])
        return dict(main.parts) if main else {}

    def presence(self, i: int, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(visible, had)`` vocabulary indices of image ``i`` for names of ``kind``."""
        index = self.vocab_index[kind]
        vis = set(self.visible(i, kind))
        had = set(vis)
        if kind == "part":
            main = main_object(self.objects[i])
            had |= set(self.kb_parts(main.category)) if main else set()
        return (
            torch.tensor(sorted(index[n] for n in vis if n in index), dtype=torch.long),
            torch.tensor(sorted(index[n] for n in had if n in index), dtype=torch.long),
        )

    def make_batch(
        self, pairs: Sequence[tuple[int, int]], tasks: Sequence[CosegTask], extra: int = 0
    ) -> PairBatch:
        """Inputs and targets of ``pairs``; ``extra`` > 0 adds up to that many non-answer names per image."""
        idx = torch.tensor([[i, j] for i, j in pairs])
        targets, extras, presence = [], [], []
        for (i, j), task in zip(pairs, tasks, strict=True):
            kind = "object" if task == "common_objects" else "part"
            presence.append([self.presence(img, kind) for img in (i, j)])
            items = self.gold(i, j, task)
            per_image, per_extra = [], []
            for side, img in ((0, i), (1, j)):
                mine = [(g.label, g.mask) for g in items if g.image_index == side]
                per_image.append(self._encode_items(mine, kind))
                if extra:
                    taken = {n for n, _ in mine}
                    rest = [
                        (n, m)
                        for n, m in sorted(self.visible(img, kind).items())
                        if n not in taken and m.any()
                    ]
                    per_extra.append(self._encode_items(rest[:extra], kind))
            targets.append(per_image)
            extras.append(per_extra)
        return PairBatch(
            clip=self.data.clip[idx].float(),
            dino=self.data.dino[idx].float(),
            pixels=self.pixels[idx],
            task=torch.tensor([COSEG_TASKS.index(t) for t in tasks]),
            targets=targets,
            pairs=list(pairs),
            extra=extras if extra else None,
            presence=presence,
        )
