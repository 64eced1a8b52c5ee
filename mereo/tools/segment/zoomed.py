"""Zoomed views for the shared-encoder segmenter: a named object that fills little of the image
is encoded again from a square crop around it, and its outline and part kinds are read from that
crop (:class:`ZoomedViews`, mixed into :class:`~mereo.tools.segment.shared.SharedEncoderSegmenter`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mereo.tools.encoder.runtime import Encoded
from mereo.tools.segment.evidence import ZOOM_MARGIN, ZOOM_MAX, zoom_box
from mereo.types import ImageRef

#: a zoomed view of an object: ``((top, left, side), crop, the crop's encoding)``
Zoomed = tuple[tuple[int, int, int], ImageRef, Encoded]


class ZoomedViews:
    """The zoomed crop of a named object and its outline there (needs ``ctx``, ``encoder``,
    ``zoom``, ``refine`` and ``instances(image, encoded)``)."""

    ctx: Any
    encoder: Any
    zoom: bool
    refine: Any

    def instances(self, image: ImageRef, enc: Encoded) -> list[Any]:
        raise NotImplementedError

    def zoom_crop(
        self, image: ImageRef, region: np.ndarray | None
    ) -> tuple[tuple[int, int, int], ImageRef] | None:
        """``((top, left, side), crop)``: the square around ``region`` when zoom is on and the
        square is at most :data:`ZOOM_MAX` of the image's shorter side; None otherwise."""
        if not self.zoom or region is None or self.refine is None:
            return None
        box = zoom_box(region, ZOOM_MARGIN)
        if box is None or box[2] > ZOOM_MAX * min(image.height, image.width):
            return None
        top, left, side = box
        return box, ImageRef(np.ascontiguousarray(image.array[top : top + side, left : left + side]))

    def zoomed(self, image: ImageRef, region: np.ndarray | None) -> Zoomed | None:
        """``((top, left, side), crop, its encoding)`` of :meth:`zoom_crop` (the crop's encoding
        is cached and noted in the trace); None without a crop."""
        found = self.zoom_crop(image, region)
        if found is None:
            return None
        box, crop = found
        zenc, hit = self.ctx.cache.get_or_compute(
            self._zoom_namespace, crop.sha256, lambda: self.encoder.forward(crop.array)
        )
        self._note_zoom(image, box, "hit" if hit else "miss")
        return box, crop, zenc

    @property
    def _zoom_namespace(self) -> str:
        return f"{self.encoder.namespace}:zoom"

    def _note_zoom(self, image: ImageRef, box: tuple[int, int, int], cache: str, **extra: Any) -> None:
        self.ctx.note(
            tool="encoder",
            backend=self.encoder.name,
            image=image.sha256[:12],
            zoom=list(box),
            cache=cache,
            **extra,
        )

    def zoomed_region(
        self, image: ImageRef, region: np.ndarray | None, zoomed: Zoomed | None = None
    ) -> np.ndarray | None:
        """The object's pixels seen again in the zoomed crop (``zoomed``, by default
        :meth:`zoomed` of ``region``): the crop's instances that lie at least half inside
        ``region``, pasted back (``region`` itself when there is no zoomed crop or no such
        instance)."""
        zoomed = zoomed or self.zoomed(image, region)
        if zoomed is None or region is None:
            return region
        (top, left, side), crop, zenc = zoomed
        inner = region[top : top + side, left : left + side]
        chosen = [i.mask for i in self.instances(crop, zenc) if (i.mask & inner).sum() >= 0.5 * i.mask.sum()]
        if not chosen:
            return region
        out = np.zeros_like(region)
        out[top : top + side, left : left + side] = np.logical_or.reduce(chosen)
        return out
