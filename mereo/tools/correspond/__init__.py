"""Correspondence tools: part-to-part similarity and point matching from dense patch features.

Backends (``REGISTRY``):

- ``dinov2-small`` (default): the small DINOv2 encoder trained on SynthParts
  (``mereo/checkpoints/dinov2-small.safetensors``).
- ``synthparts-cnn``: the shared encoder's dense correspondence embedding (:mod:`mereo.tools.encoder`).
- ``dinov2:<hub id or local dir>``: published DINOv2 weights via ``Dinov2Model.from_pretrained``.
- ``clip-patches`` or ``clip-patches:<recognize backend>``: the recognizer's CLIP patch tokens.
- ``none``: no visual evidence (neutral similarities, no matches).
- ``oracle``: parts agree exactly when their labels are equal (evals' upper bound).

For other tools (co-segmentation) :func:`dense_features` gives an image's patch tokens and
:func:`load_encoder` the trained encoder itself, for batched frozen feature extraction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mereo.errors import ValidationError
from mereo.tools.base import Builder, ToolContext, ToolRegistry

if TYPE_CHECKING:  # the encoders load only when a backend is built
    import numpy as np

    from mereo.tools.correspond.backends import DenseFeatures, FeatureCorresponder, NoCorresponder
    from mereo.tools.correspond.encoder import DenseEncoder
    from mereo.types import ImageRef

DEFAULT_BACKEND = "dinov2-small"


def _dinov2_small(ctx: ToolContext, arg: str | None) -> FeatureCorresponder:
    from mereo.tools.correspond.backends import FeatureCorresponder
    from mereo.tools.correspond.encoder import shared_small

    encoder = shared_small(ctx.device)
    return FeatureCorresponder("dinov2-small", encoder.encode, ctx, threshold=encoder.match_threshold)


def _synthparts_cnn(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.correspond.shared import build_shared_corresponder

    return build_shared_corresponder(ctx, arg)


def _dinov2(ctx: ToolContext, arg: str | None) -> FeatureCorresponder:
    if not arg:
        raise ValidationError(
            "the dinov2 backend needs weights: 'dinov2:facebook/dinov2-small' "
            "(hub id in the local cache) or 'dinov2:/path/to/save_pretrained/folder'."
        )
    from mereo.tools.correspond.backends import FeatureCorresponder
    from mereo.tools.correspond.encoder import load_pretrained

    encoder = load_pretrained(arg, ctx.device)
    return FeatureCorresponder(f"dinov2:{arg}", encoder.encode, ctx)


def _clip_patches(ctx: ToolContext, arg: str | None) -> FeatureCorresponder:
    from mereo.tools import recognize
    from mereo.tools.correspond.backends import FeatureCorresponder
    from mereo.types import ImageRef

    recognizer = recognize.build(arg or recognize.DEFAULT_BACKEND, ctx)
    name = "clip-patches" + (f":{arg}" if arg else "")

    def encode(array: np.ndarray):
        f = recognizer.patch_features(ImageRef(array))
        return f.tokens, f.grid

    return FeatureCorresponder(name, encode, ctx)


def _none(ctx: ToolContext, arg: str | None) -> NoCorresponder:
    from mereo.tools.correspond.backends import NoCorresponder

    return NoCorresponder(ctx)


def _oracle(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.correspond import oracle

    return oracle.build(ctx, arg)


REGISTRY: dict[str, Builder] = {
    "dinov2-small": _dinov2_small,
    "synthparts-cnn": _synthparts_cnn,
    "dinov2": _dinov2,
    "clip-patches": _clip_patches,
    "none": _none,
    "oracle": _oracle,
}

BACKENDS = ToolRegistry("correspond", REGISTRY, DEFAULT_BACKEND)
build = BACKENDS.build
list_backends = BACKENDS.names


def dense_features(
    backend: str | FeatureCorresponder, image: ImageRef | np.ndarray, ctx: ToolContext | None = None
) -> DenseFeatures:
    """Patch tokens of ``image``: ``.tokens`` is ``N x D`` float32, ``.grid`` is ``(grid_h, grid_w)``.

    Args:
        backend: a backend name (e.g. ``"dinov2-small"``) or a built backend.
        image: the image.
        ctx: the tool context whose cache is used (the process-wide cache when omitted).

    Raises:
        ValidationError: the backend has no features (``none``).
    """
    corr = build(backend, ctx) if isinstance(backend, str) else backend
    if not hasattr(corr, "features"):
        name = getattr(corr, "name", backend)
        raise ValidationError(f"correspondence backend {name!r} has no dense features.")
    return corr.features(image)


def load_encoder(name: str = DEFAULT_BACKEND, device: str = "auto") -> DenseEncoder:
    """The encoder behind ``dinov2-small`` or ``dinov2:<source>``, for batched frozen features.

    ``encoder.encode_batch(images)`` maps ``B x H x W x 3`` uint8 to ``B x N x D`` tokens on the
    ``encoder.grid``; ``encoder.forward_pixels`` takes normalised pixels (see ``encoder.to_pixels``).
    """
    from mereo.tools.correspond.encoder import load_pretrained, load_small

    key, _, arg = name.partition(":")
    if key == "dinov2-small":
        return load_small(device)
    if key == "dinov2" and arg:
        return load_pretrained(arg, device)
    raise ValidationError(
        f"no DINOv2 encoder named {name!r}; use 'dinov2-small' or 'dinov2:<hub id or dir>'."
    )


def __getattr__(name: str) -> Any:
    """``DenseFeatures`` and ``DenseEncoder``, imported on first use."""
    if name == "DenseFeatures":
        from mereo.tools.correspond.backends import DenseFeatures

        return DenseFeatures
    if name == "DenseEncoder":
        from mereo.tools.correspond.encoder import DenseEncoder

        return DenseEncoder
    raise AttributeError(f"module 'mereo.tools.correspond' has no attribute {name!r}")


__all__ = [
    "BACKENDS",
    "REGISTRY",
    "DEFAULT_BACKEND",
    "DenseFeatures",
    "DenseEncoder",
    "build",
    "dense_features",
    "list_backends",
    "load_encoder",
]
