"""The frozen encoders Calico-small reads: a CLIP-style and a DINOv2-style patch-token encoder.

Both are the project's own small trained checkpoints (``clip-small`` from the recognition tool,
``dinov2-small`` from the correspondence tool), used frozen. Every encoder here offers
``encode_batch(images B x H x W x 3 uint8) -> B x N x D`` float32 patch tokens (no class token,
row-major over a ``grid``) plus ``grid`` and ``dim``.

When a checkpoint is missing (a fresh clone before ``make train``), ``allow_random=True`` builds
a randomly initialised encoder of the same architecture, for tests and development only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from mereo.errors import CheckpointError
from mereo.tools.base import ToolContext
from mereo.types import ImageRef

CLIP_NAME = "clip-small"
DINO_NAME = "dinov2-small"


class TokenEncoder(Protocol):
    grid: tuple[int, int]

    @property
    def dim(self) -> int: ...

    def encode_batch(self, images: np.ndarray) -> torch.Tensor: ...


@dataclass
class FrozenEncoders:
    """The two frozen encoders and where their weights came from.

    Attributes:
        clip: the CLIP-style encoder (queries of the correspondence extraction).
        dino: the DINOv2-style encoder (keys and values).
        sources: encoder name -> ``{"checkpoint": name, "sha256": ...}`` (``"random"`` when
            randomly initialised).
    """

    clip: TokenEncoder
    dino: TokenEncoder
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def random(self) -> bool:
        return any(s.get("sha256") == "random" for s in self.sources.values())

    def encode(self, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``B x H x W x 3`` uint8 -> ``(clip B x S_c x D_c, dino B x S_s x D_s)`` float32."""
        return self.clip.encode_batch(images), self.dino.encode_batch(images)

    def encode_cached(self, ctx: ToolContext, image: ImageRef) -> tuple[torch.Tensor, torch.Tensor]:
        """One image's ``(clip S_c x D_c, dino S_s x D_s)`` tokens through the shared feature cache.

        DINOv2 tokens live in the correspondence tool's namespace (``"correspond:dinov2-small"``,
        the same :class:`DenseFeatures` value), so either tool reuses the other's work. CLIP tokens
        are read from the recognition tool's entry (``"recognize:clip-small"``) when it already
        encoded the image, and otherwise computed under ``"coseg:clip-small"``.
        """
        from mereo.tools.correspond.backends import DenseFeatures

        real = {n: s.get("sha256") != "random" for n, s in self.sources.items()}
        recognized = f"recognize:{CLIP_NAME}"
        clip: torch.Tensor | None = None
        if real.get(CLIP_NAME) and (recognized, image.sha256) in ctx.cache:
            entry: Any = ctx.cache.get_or_compute(recognized, image.sha256, dict)[0]
            clip = entry.get("tokens") if isinstance(entry, dict) else None
            if clip is not None:
                ctx.note(tool="coseg", step="clip-small tokens", image=image.sha256[:12], cache="hit")
        out = []
        for name, enc, namespace in (
            (CLIP_NAME, self.clip, f"coseg:{CLIP_NAME}"),
            (DINO_NAME, self.dino, f"correspond:{DINO_NAME}"),
        ):
            if name == CLIP_NAME and clip is not None:
                out.append(clip)
                continue
            if not real.get(name):
                namespace = f"coseg:{name}-random"

            def compute(e: TokenEncoder = enc) -> DenseFeatures:
                grid = (int(e.grid[0]), int(e.grid[1]))
                return DenseFeatures(tokens=e.encode_batch(image.array[None])[0], grid=grid)

            value, hit = ctx.cache.get_or_compute(namespace, image.sha256, compute)
            ctx.note(
                tool="coseg", step=f"{name} tokens", image=image.sha256[:12], cache="hit" if hit else "miss"
            )
            out.append(value.tokens)
        return out[0], out[1]


def _dino(device: str, allow_random: bool, force_random: bool = False) -> tuple[TokenEncoder, dict[str, Any]]:
    from mereo.checkpoints import read_manifest
    from mereo.tools.correspond import encoder as dino_encoder

    try:
        if force_random:
            raise CheckpointError("random requested")
        enc = dino_encoder.shared_small(device)
        return enc, {"checkpoint": DINO_NAME, "sha256": read_manifest(DINO_NAME)["sha256"]}
    except CheckpointError:
        if not (allow_random or force_random):
            raise
    if not force_random:
        warnings.warn(f"{DINO_NAME} checkpoint not found; using a randomly initialised encoder", stacklevel=3)
    torch.manual_seed(0)
    return dino_encoder.DenseEncoder(dino_encoder.build_model(), device=device), {
        "checkpoint": DINO_NAME,
        "sha256": "random",
    }


class ClipTokens:
    """Adapter: the recognition tool's ``ClipModel`` as a :class:`TokenEncoder` (projected patch tokens)."""

    def __init__(self, clip: Any):
        self.clip = clip
        self.grid = tuple(clip.grid)
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode_batch(np.zeros((1, 32, 32, 3), np.uint8)).shape[-1])
        return self._dim

    def encode_batch(self, images: np.ndarray) -> torch.Tensor:
        return self.clip.patch_tokens_batch(images)


def _clip(device: str, allow_random: bool, force_random: bool = False) -> tuple[TokenEncoder, dict[str, Any]]:
    from mereo.checkpoints import read_manifest
    from mereo.tools.recognize import model as clip_model

    try:
        if force_random:
            raise CheckpointError("random requested")
        enc = ClipTokens(clip_model.shared_small(device))
        return enc, {"checkpoint": CLIP_NAME, "sha256": read_manifest(CLIP_NAME)["sha256"]}
    except CheckpointError:
        if not (allow_random or force_random):
            raise
    if not force_random:
        warnings.warn(f"{CLIP_NAME} checkpoint not found; using a randomly initialised encoder", stacklevel=3)
    torch.manual_seed(1)
    cfg = clip_model.small_config()
    model = clip_model.ClipModel(
        clip_model.build_clip(cfg), clip_model.make_tokenizer(cfg["text_cfg"]["context_length"]), device
    )
    return ClipTokens(model), {"checkpoint": CLIP_NAME, "sha256": "random"}


def load_encoders(
    device: str = "auto", allow_random: bool = False, expect: dict[str, Any] | None = None
) -> FrozenEncoders:
    """The frozen ``clip-small`` and ``dinov2-small`` encoders.

    Args:
        device: where they run.
        allow_random: use a seeded random encoder of the same architecture when a checkpoint
            is missing (tests and development).
        expect: a calico-small manifest's ``"encoders"``: an encoder recorded as ``"random"`` is
            rebuilt the same way; a trained one whose sha256 differs from the recorded one gives
            a warning (the co-segmenter was trained on other features; retrain it).

    Raises:
        CheckpointError: a checkpoint is missing and ``allow_random`` is False.
    """
    expect = expect or {}

    def recorded_random(name: str) -> bool:
        return expect.get(name, {}).get("sha256") == "random"

    clip, clip_src = _clip(device, allow_random, recorded_random(CLIP_NAME))
    dino, dino_src = _dino(device, allow_random, recorded_random(DINO_NAME))
    sources = {CLIP_NAME: clip_src, DINO_NAME: dino_src}
    for name, src in sources.items():
        want = expect.get(name, {}).get("sha256")
        if want and want != src["sha256"]:
            warnings.warn(
                f"calico-small was trained on {name} {want[:12]} but {src['sha256'][:12]} is installed; "
                "retrain it with `mereo train coseg`.",
                stacklevel=2,
            )
    return FrozenEncoders(clip, dino, sources)


def pixels_at(images: np.ndarray, side: int) -> torch.Tensor:
    """``B x H x W x 3`` uint8 -> ``B x 3 x side x side`` float in ``[0, 1]``."""
    t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    if t.shape[-1] != side:
        t = F.interpolate(t, size=(side, side), mode="area")
    return t
