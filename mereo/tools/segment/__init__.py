"""Part segmentation after PLUM: a text that names parts -> one mask per named part.

Backends (``REGISTRY``; a name may carry an argument after ``:``):

- ``plum-small`` (default): the trained span tagger + SAM-style decoder with mask feedback;
  ``plum-small:/path/to/plum-small.safetensors`` loads another checkpoint.
- ``synthparts-cnn``: part-kind and instance heads of the shared encoder
  (:mod:`mereo.tools.encoder`), spans tagged by PLUM-small's tagger.
- ``sam-clip``: segment-anything automatic masks ranked by CLIP, with the user's weights
  (``sam-clip:vit_b:/path/sam.pth``; see :mod:`mereo.tools.segment.sam_clip`).
- ``sam3``: SAM 3 via transformers prompted with "<part> of <object>" phrases, one mask per instance
  (``sam3:facebook/sam3`` or ``sam3:/path/to/folder``; see :mod:`mereo.tools.segment.sam3`).
- ``oracle``: the gold masks from ``ToolContext.gold`` (upper bound).
- ``whole-object``: the gold object mask for every part (a baseline that finds objects only).

Example:
    >>> from mereo.cache import FeatureCache
    >>> from mereo.tools.base import ToolContext
    >>> seg = build("plum-small", ToolContext(FeatureCache()))            # doctest: +SKIP
    >>> seg.segment("chair.png", text=describe("chair", ["seat", "leg"]))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from mereo.tools.base import Builder, ToolContext, ToolRegistry
from mereo.tools.segment.text import describe

DEFAULT_BACKEND = "plum-small"


def _plum(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.segment.plum import build_plum

    return build_plum(ctx, arg)


def _synthparts_cnn(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.segment.shared import build_shared_segmenter

    return build_shared_segmenter(ctx, arg)


def _sam_clip(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.segment.sam_clip import build_sam_clip

    return build_sam_clip(ctx, arg)


def _sam3(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.segment.sam3 import build_sam3

    return build_sam3(ctx, arg)


def _oracle(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.segment.oracle import build_oracle

    return build_oracle(ctx, arg)


def _whole_object(ctx: ToolContext, arg: str | None) -> Any:
    from mereo.tools.segment.oracle import build_whole_object

    return build_whole_object(ctx, arg)


REGISTRY: dict[str, Builder] = {
    "plum-small": _plum,
    "synthparts-cnn": _synthparts_cnn,
    "sam-clip": _sam_clip,
    "sam3": _sam3,
    "oracle": _oracle,
    "whole-object": _whole_object,
}

BACKENDS = ToolRegistry("segment", REGISTRY, DEFAULT_BACKEND)
build = BACKENDS.build
list_backends = BACKENDS.names


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "REGISTRY", "build", "describe", "list_backends"]
