"""Co-segmentation tools: an image pair -> labelled masks of common objects, common parts or unique parts.

Backends (``REGISTRY``):

- ``calico-small`` (default): Calico-small, trained on SynthParts pairs
  (``mereo/checkpoints/calico-small.safetensors``); ``calico-small:<folder>`` loads a checkpoint
  from another folder.
- ``per-image``: the "Multi-Image VLPart" baseline of the Calico paper: the segmentation tool on
  each image, label sets compared across the pair, common parts checked by correspondence.
  ``per-image:<segment backend>`` picks the segmenter (default ``plum-small``).
- ``synthparts-cnn``: the ``per-image`` composition with the shared encoder's segment, recognize
  and correspond backends (one encoder forward per image for all three).
- ``oracle``: the gold answer from ``ctx.gold`` (``oracle:visible`` ignores the taxonomy).

Example:
    >>> from mereo.tools import coseg
    >>> coseg.list_backends()
    ['calico-small', 'oracle', 'per-image', 'synthparts-cnn']
"""

from __future__ import annotations

from typing import Any

from mereo.tools.base import Builder, ToolContext, ToolRegistry

DEFAULT_BACKEND = "calico-small"


def _calico_small(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.coseg import calico

    return calico.build(ctx, arg)


def _per_image(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.coseg import per_image

    return per_image.build(ctx, arg)


def _synthparts_cnn(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.coseg import per_image

    return per_image.build_shared(ctx, arg)


def _oracle(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.coseg import oracle

    return oracle.build(ctx, arg)


REGISTRY: dict[str, Builder] = {
    "calico-small": _calico_small,
    "per-image": _per_image,
    "synthparts-cnn": _synthparts_cnn,
    "oracle": _oracle,
}

BACKENDS = ToolRegistry("coseg", REGISTRY, DEFAULT_BACKEND)
build = BACKENDS.build
list_backends = BACKENDS.names


__all__ = ["BACKENDS", "REGISTRY", "DEFAULT_BACKEND", "build", "list_backends"]
