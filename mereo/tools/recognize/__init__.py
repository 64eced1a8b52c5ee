"""Recognition tools: name the objects in an image (with boxes and masks) and score regions.

Backends (``REGISTRY``):

- ``clip-small`` (default): open_clip's CLIP in a small configuration trained on SynthParts
  (``mereo/checkpoints/clip-small.safetensors``).
- ``synthparts-cnn``: the shared encoder's instance and object-embedding heads
  (:mod:`mereo.tools.encoder`), open-vocabulary through MiniLM name vectors.
- ``open_clip:<arch>:<pretrained tag or weights file>``: a published open_clip model, e.g.
  ``open_clip:ViT-B-32:/models/vit_b_32.pt`` (a pretrained tag needs open_clip's local cache), or
  ``open_clip:local-dir:/models/clip`` for a folder with ``open_clip_config.json`` and weights.

:func:`patch_features` gives the CLIP patch tokens of an image (what ``clip-patches`` uses).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mereo.cache import default_cache
from mereo.errors import ValidationError
from mereo.tools.base import Builder, ToolContext, build_backend
from mereo.tools.correspond.backends import DenseFeatures
from mereo.tools.recognize.backends import ClipRecognizer, default_vocabulary
from mereo.tools.recognize.model import ClipModel, load_open_clip, load_small
from mereo.types import ImageRef

DEFAULT_BACKEND = "clip-small"


def _clip_small(ctx: ToolContext, arg: str | None) -> ClipRecognizer:
    return ClipRecognizer("clip-small", load_small(ctx.device), ctx)


def _synthparts_cnn(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.recognize.shared import build_shared_recognizer

    return build_shared_recognizer(ctx, arg)


def _open_clip(ctx: ToolContext, arg: str | None) -> ClipRecognizer:
    if not arg:
        raise ValidationError(
            "the open_clip backend needs an architecture and weights: "
            "'open_clip:ViT-B-32:/path/to/weights.pt' or 'open_clip:ViT-B-32:openai'."
        )
    if arg.startswith(("local-dir:", "hf-hub:")):  # open_clip's own folder / hub formats name both
        arch, pretrained = arg, ""
    else:
        arch, _, pretrained = arg.partition(":")
    return ClipRecognizer(f"open_clip:{arg}", load_open_clip(arch, pretrained or None, ctx.device), ctx)


REGISTRY: dict[str, Builder] = {
    "clip-small": _clip_small,
    "synthparts-cnn": _synthparts_cnn,
    "open_clip": _open_clip,
}


def list_backends() -> list[str]:
    """Registered backend names (``open_clip`` takes ``:<arch>:<tag or file>``)."""
    return sorted(REGISTRY)


def build(name: str = DEFAULT_BACKEND, ctx: ToolContext | None = None) -> Any:
    """Build a recognition backend by name (see the module docstring)."""
    return build_backend("recognize", REGISTRY, name, ctx or ToolContext(cache=default_cache()))


def patch_features(
    backend: str | ClipRecognizer, image: ImageRef | np.ndarray, ctx: ToolContext | None = None
) -> DenseFeatures:
    """CLIP patch tokens of ``image`` projected into the joint space: ``.tokens`` ``N x E``,
    ``.grid`` ``(grid_h, grid_w)`` (8 x 8 for ``clip-small``)."""
    rec = build(backend, ctx) if isinstance(backend, str) else backend
    return rec.patch_features(image)


__all__ = [
    "REGISTRY",
    "DEFAULT_BACKEND",
    "ClipModel",
    "ClipRecognizer",
    "build",
    "default_vocabulary",
    "list_backends",
    "patch_features",
]
