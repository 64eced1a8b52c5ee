"""open_clip's CLIP, wrapped for Mereo: image and text embeddings and projected patch tokens.

The embedded default ``clip-small`` is open_clip's own ``CLIP`` class in a small configuration
(``clip_small.json``, open_clip's model-config format) with open_clip's BPE tokenizer; published
models load through ``open_clip.create_model_and_transforms(arch, pretrained=tag_or_file)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mereo.device import resolve_device
from mereo.errors import CheckpointError
from mereo.tools.loadonce import LoadOnce

CHECKPOINT_NAME = "clip-small"
CONFIG_PATH = Path(__file__).with_name("clip_small.json")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def small_config() -> dict[str, Any]:
    """The ``clip-small`` architecture (open_clip model-config JSON: embed_dim, vision_cfg, text_cfg)."""
    return json.loads(CONFIG_PATH.read_text())


def build_clip(config: dict[str, Any] | None = None) -> torch.nn.Module:
    """A randomly initialised ``open_clip.CLIP`` of the given (default: small) configuration."""
    import open_clip
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    cfg = config or small_config()
    return open_clip.CLIP(
        embed_dim=cfg["embed_dim"],
        vision_cfg=CLIPVisionCfg(**cfg["vision_cfg"]),
        text_cfg=CLIPTextCfg(**cfg["text_cfg"]),
    )


def _size(value: Any) -> int:
    return int(value if isinstance(value, int) else value[0])


@dataclass
class PatchGrid:
    """Projected patch tokens of one image: ``tokens`` ``N x E`` and the ``(grid_h, grid_w)`` grid."""

    tokens: torch.Tensor
    grid: tuple[int, int]


class ClipModel:
    """Image/text embeddings of an open_clip CLIP, and its patch tokens in the joint space.

    Args:
        model: an ``open_clip.CLIP``.
        tokenizer: open_clip tokenizer (``texts -> B x context_length`` int64).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any, device: str = "auto"):
        self.device = resolve_device(device)
        self.model: Any = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self._flag_lock = threading.Lock()
        visual = model.visual
        self.image_size = _size(getattr(visual, "image_size", 224))
        patch = getattr(visual, "patch_size", None)
        self.has_tokens = patch is not None and hasattr(visual, "output_tokens")
        g = self.image_size // _size(patch) if patch is not None else 1
        self.grid = (g, g)
        cfg = getattr(visual, "preprocess_cfg", {}) or {}
        self.mean = tuple(cfg.get("mean", OPENAI_MEAN))
        self.std = tuple(cfg.get("std", OPENAI_STD))

    # -- preprocessing ----------------------------------------------------------------------------
    def to_pixels(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``B x H x W x 3`` uint8 -> ``B x 3 x S x S`` normalised float on the model's device."""
        x = torch.as_tensor(np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images)
        if x.ndim == 3:
            x = x[None]
        x = x.permute(0, 3, 1, 2).float() / 255.0
        return self.normalize(x)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``B x 3 x H x W`` float in ``[0, 1]`` -> resized to ``S x S`` and normalised."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(
                x,
                size=(self.image_size, self.image_size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(self.device)

    # -- encoders (with grad; wrap in no_grad for inference) ----------------------------------------
    def image_and_tokens(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Normalised pixels -> (``B x E`` image embeddings, ``B x N x E`` projected patch tokens or None).

        Thread-safe: the model is only read. open_clip's ``VisionTransformer`` is run stage by stage
        (its ``_embeds``, ``transformer``, ``_pool``) instead of flipping its shared
        ``output_tokens`` flag; other towers take a lock around the flag.
        """
        visual: Any = self.model.visual
        if not self.has_tokens:
            return visual(pixels), None
        if all(hasattr(visual, a) for a in ("_embeds", "transformer", "_pool")):
            pooled, tokens = visual._pool(visual.transformer(visual._embeds(pixels)))
            if getattr(visual, "proj", None) is not None:
                pooled = pooled @ visual.proj
        else:
            with self._flag_lock:
                old = visual.output_tokens
                visual.output_tokens = True
                try:
                    pooled, tokens = visual(pixels)
                finally:
                    visual.output_tokens = old
        if getattr(visual, "proj", None) is not None:
            tokens = tokens @ visual.proj
        return pooled, tokens

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """``T`` texts -> ``T x E`` L2-normalised embeddings (with grad)."""
        ids = self.tokenizer(list(texts)).to(self.device)
        return F.normalize(self.model.encode_text(ids), dim=-1)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp()

    # -- inference helpers --------------------------------------------------------------------------
    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """``T x E`` normalised text embeddings on the CPU."""
        return self.text_embeddings(texts).float().cpu()

    @torch.no_grad()
    def encode_images(self, images: np.ndarray, batch: int = 64) -> torch.Tensor:
        """``B x H x W x 3`` uint8 -> ``B x E`` normalised image embeddings on the CPU."""
        out = [
            F.normalize(self.image_and_tokens(self.to_pixels(images[s : s + batch]))[0], dim=-1)
            for s in range(0, len(images), batch)
        ]
        return torch.cat(out).float().cpu()

    @torch.no_grad()
    def patch_tokens_batch(self, images: np.ndarray) -> torch.Tensor:
        """``B x H x W x 3`` uint8 -> ``B x N x E`` projected patch tokens on the CPU (``N = gh * gw``)."""
        _, tokens = self.image_and_tokens(self.to_pixels(images))
        if tokens is None:
            raise CheckpointError(
                "this open_clip model has no patch tokens (not a ViT); use a ViT architecture."
            )
        return tokens.float().cpu()

    def patch_tokens(self, image: np.ndarray) -> PatchGrid:
        """One ``H x W x 3`` uint8 image -> its projected patch tokens on the grid."""
        return PatchGrid(self.patch_tokens_batch(image[None])[0], self.grid)


def make_tokenizer(context_length: int) -> Any:
    """open_clip's BPE tokenizer (the one shipped with open_clip) at the given context length."""
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context_length)


def load_small(device: str = "auto", directory: str | Path | None = None) -> ClipModel:
    """The trained ``clip-small`` from ``mereo/checkpoints/clip-small.safetensors`` (stored as fp16)."""
    from mereo.checkpoints import config_must_fit, load_checkpoint

    state, manifest = load_checkpoint(CHECKPOINT_NAME, directory)
    with config_must_fit(CHECKPOINT_NAME, directory):
        cfg = manifest.get("config") or small_config()
        model = build_clip(cfg)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        tokenizer = make_tokenizer(int(cfg["text_cfg"]["context_length"]))
    return ClipModel(model, tokenizer, device)


def shared_small(device: str = "auto") -> ClipModel:
    """The trained embedded CLIP model for run-time tools, loaded once per process and device.

    One :class:`~mereo.tools.loadonce.LoadOnce` copy serves the ``clip-small`` recognizer and
    calico-small's frozen encoders: never train it (training code calls :func:`load_small` for its
    own copy).

    Raises:
        CheckpointError: the checkpoint is missing or does not fit (from :func:`load_small`).
    """
    return _SHARED.get(device)


_SHARED: LoadOnce[ClipModel] = LoadOnce(CHECKPOINT_NAME, lambda device: load_small(device))


def load_open_clip(arch: str, pretrained: str | None, device: str = "auto") -> ClipModel:
    """A published open_clip model: ``arch`` is an open_clip model name (``ViT-B-32``) and
    ``pretrained`` a pretrained tag (needs the local cache) or a local weights file.

    Raises:
        CheckpointError: unknown architecture, or weights that cannot be loaded.
    """
    import open_clip

    if arch not in open_clip.list_models() and not arch.startswith(("hf-hub:", "local-dir:")):
        raise CheckpointError(
            f"unknown open_clip architecture {arch!r}; see open_clip.list_models() "
            "(register your own JSON config with open_clip.add_model_config)."
        )
    try:
        model, _, _ = open_clip.create_model_and_transforms(
            arch, pretrained=pretrained or None, weights_only=True
        )
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"could not load open_clip {arch!r} with weights {pretrained!r}: {e}") from e
    return ClipModel(model, open_clip.get_tokenizer(arch), device)
