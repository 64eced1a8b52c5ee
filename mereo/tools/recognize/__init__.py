"""Recognition tools: name the objects in an image (with boxes and masks) and score regions.

Backends (``REGISTRY``):

- ``clip-small`` (default): open_clip's CLIP in a small configuration trained on SynthParts
  (``mereo/checkpoints/clip-small.safetensors``).
- ``synthparts-cnn``: the shared encoder's instance and object-embedding heads
  (:mod:`mereo.tools.encoder`), open-vocabulary through MiniLM name vectors.
- ``open_clip:<arch>:<pretrained tag or weights file>``: a published open_clip model, e.g.
  ``open_clip:ViT-B-32:/models/vit_b_32.pt`` (a pretrained tag needs open_clip's local cache), or
  ``open_clip:local-dir:/models/clip`` for a folder with ``open_clip_config.json`` and weights.
- ``oracle``: the gold objects from ``ToolContext.gold`` (evals' upper bound).

- ``owlv2:<hub id or dir>`` and ``grounding-dino:<hub id or dir>``: open-vocabulary detectors via
  transformers (boxes and scores for the knowledge base's object names; see
  :mod:`mereo.tools.recognize.owlv2`, :mod:`mereo.tools.recognize.grounding_dino`).

:func:`patch_features` gives the CLIP patch tokens of an image (what ``clip-patches`` uses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mereo.errors import ValidationError
from mereo.tools.base import Builder, ToolContext, ToolRegistry

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


def _synthparts_cnn(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.recognize.shared import build_shared_recognizer

    return build_shared_recognizer(ctx, arg)


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


def _owlv2(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.recognize.owlv2 import build_owlv2

    return build_owlv2(ctx, arg)


def _grounding_dino(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.recognize.grounding_dino import build_grounding_dino

    return build_grounding_dino(ctx, arg)


REGISTRY: dict[str, Builder] = {
    "clip-small": _clip_small,
    "synthparts-cnn": _synthparts_cnn,
    "open_clip": _open_clip,
    "oracle": _oracle,
    "owlv2": _owlv2,
    "grounding-dino": _grounding_dino,
}

BACKENDS = ToolRegistry("recognize", REGISTRY, DEFAULT_BACKEND)
build = BACKENDS.build
list_backends = BACKENDS.names


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
    "BACKENDS",
    "REGISTRY",
    "DEFAULT_BACKEND",
    "ClipModel",
    "ClipRecognizer",
    "build",
    "default_vocabulary",
    "list_backends",
    "patch_features",
]
