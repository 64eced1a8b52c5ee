"""Recognition tools: name the objects in an image (with boxes and masks) and score regions.

Backends (``REGISTRY``):

- ``clip-small`` (default): open_clip's CLIP in a small configuration trained on SynthParts
  (``mereo/checkpoints/clip-small.safetensors``).
- ``open_clip:<arch>:<pretrained tag or weights file>``: a published open_clip model, e.g.
  ``open_clip:ViT-B-32:/models/vit_b_32.pt`` (a pretrained tag needs open_clip's local cache), or
  ``open_clip:local-dir:/models/clip`` for a folder with ``open_clip_config.json`` and weights.
- ``oracle``: the gold objects from ``ToolContext.gold`` (evals' upper bound).

:func:`patch_features` gives the CLIP patch tokens of an image (what ``clip-patches`` uses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mereo.cache import default_cache
from mereo.errors import ValidationError
from mereo.tools.base import Builder, ToolContext, build_backend

if TYPE_CHECKING:  # the models load (and torchvision imports) only when a backend is built
    import numpy as np

    from mereo.tools.correspond.backends import DenseFeatures
    from mereo.tools.recognize.backends import ClipRecognizer
    from mereo.tools.recognize.model import ClipModel
    from mereo.types import ImageRef

DEFAULT_BACKEND = "clip-small"


def _clip_small(ctx: ToolContext, arg: str | None) -> ClipRecognizer:
    from mereo.tools.recognize.backends import ClipRecognizer
    from mereo.tools.recognize.model import shared_small

    return ClipRecognizer("clip-small", shared_small(ctx.device), ctx)


def _open_clip(ctx: ToolContext, arg: str | None) -> ClipRecognizer:
    from mereo.tools.recognize.backends import ClipRecognizer
    from mereo.tools.recognize.model import load_open_clip

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


def _oracle(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.recognize import oracle

    return oracle.build(ctx, arg)


REGISTRY: dict[str, Builder] = {
    "clip-small": _clip_small,
    "open_clip": _open_clip,
    "oracle": _oracle,
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


def __getattr__(name: str) -> Any:
    """``ClipModel``, ``ClipRecognizer`` and ``default_vocabulary``, imported on first use."""
    if name == "ClipModel":
        from mereo.tools.recognize.model import ClipModel

        return ClipModel
    if name in ("ClipRecognizer", "default_vocabulary"):
        from mereo.tools.recognize import backends

        return getattr(backends, name)
    raise AttributeError(f"module 'mereo.tools.recognize' has no attribute {name!r}")


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
