"""What the ``synthparts-cnn`` segmenter can tell about an object's presence, and its zoomed views.

:class:`PresenceEvidence` is mixed into :class:`~mereo.tools.segment.shared.SharedEncoderSegmenter`:
``presence_evidence`` names every cell of the image among background, a name and the encoder's
categories; ``closer_look`` asks the same of zoomed crops of the image's objects (read by the
agent's presence check when its first score leaves doubt, see :mod:`mereo.agent.verify`).
:func:`zoom_box` is the square crop around a mask that both use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mereo.knowledge import canonical
from mereo.tools.encoder.refine import best_class
from mereo.types import ImageRef

#: with ``zoom`` (the default), a named object is encoded again, zoomed in, when its square box (this
#: margin on each side, as a share of its size) is at most ``ZOOM_MAX`` of the image's shorter side
#: (session 7, before the encoder trained on zoomed views: val identification gIoU 0.599 -> 0.619,
#: test 0.577 -> 0.579, so it was off; session 9, after: val 0.683 -> 0.713, test 0.663 -> 0.685)
ZOOM_MARGIN, ZOOM_MAX = 0.35, 0.8
#: the closer look (:meth:`SharedEncoderSegmenter.closer_look`) crops at most this many objects,
#: none with a side under this many pixels; its features, in order
LOOK_OBJECTS, LOOK_MIN_SIDE = 4, 16
LOOK_FEATURES = ("zpix", "zpmax", "zpmean", "zpool")


def zoom_box(
    mask: np.ndarray, margin: float, shift: tuple[float, float] = (0.0, 0.0)
) -> tuple[int, int, int] | None:
    """``(top, left, side)`` of a square around the mask's pixels, ``margin`` of its size wider on
    each side, its centre moved by ``shift`` (rows, columns; pixels) and then shifted to lie inside
    the image (None for an empty mask)."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    h, w = mask.shape
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    side = min(h, w, round(max(y1 - y0, x1 - x0) * (1 + 2 * margin)))
    top = round(min(max((y0 + y1 - side) / 2 + shift[0], 0), h - side))
    left = round(min(max((x0 + x1 - side) / 2 + shift[1], 0), w - side))
    return int(top), int(left), int(side)


class PresenceEvidence:
    """Presence evidence of a segmenter over the shared encoder (needs ``ctx``, ``encoder`` and
    ``instances(image, encoded)``)."""

    ctx: Any
    encoder: Any

    def instances(self, image: ImageRef, enc: Any) -> list[Any]:
        raise NotImplementedError

    @torch.no_grad()
    def presence_evidence(self, image: Any, name: str) -> dict[str, float]:
        """Evidence from the object embedding that an object called ``name`` is in the image.

        Every cell is named among background, ``name`` and the encoder's categories; returns
        ``pix`` (share of the object cells named ``name``), ``pmax`` (the highest probability of
        ``name`` in a cell), ``pmean`` (its mean over the object cells) and ``pool`` (the pooled
        image vector's probability of ``name`` among the names). Name-agnostic: any name works.
        """
        from mereo.tools.encoder.text import name_embeddings

        enc = self.encoder.encode(self.ctx, ImageRef(image))
        names = list(dict.fromkeys([canonical(name), *self.encoder.category_names]))
        text = name_embeddings(names)
        logits = self.encoder.model.text_logits(enc.sem[None], text)[0]  # (1 + K) x h x w
        prob = logits.softmax(0)[1]
        label = best_class(logits)
        fg = label > 0
        n_fg = max(1, int(fg.sum()))
        pooled = self.encoder.model.text_logits(enc.pooled[None], text, background=False)[0].softmax(0)
        return {
            "pix": float((label == 1).sum()) / n_fg,
            "pmax": float(prob.max()),
            "pmean": float(prob[fg].sum()) / n_fg,
            "pool": float(pooled[0]),
        }

    @torch.no_grad()
    def closer_look(self, image: Any, name: str) -> dict[str, float]:
        """:meth:`presence_evidence` for ``name`` on zoomed crops of the image's objects: the
        largest :data:`LOOK_OBJECTS` instances, each cropped to a square around it
        (:data:`ZOOM_MARGIN` of its size on each side; crops under :data:`LOOK_MIN_SIDE` pixels or
        over :data:`ZOOM_MAX` of the shorter side are skipped) and encoded in one batch. A small
        object of a busy scene is named better at the scale of the training scenes' large ones.

        Returns ``zpix``, ``zpmax``, ``zpmean``, ``zpool``: each the maximum over the crops (0
        when no crop qualifies).
        """
        img = ImageRef(image)
        enc = self.encoder.encode(self.ctx, img)
        crops = []
        for inst in self.instances(img, enc)[:LOOK_OBJECTS]:
            box = zoom_box(inst.mask, ZOOM_MARGIN)
            if box is None or not LOOK_MIN_SIDE <= box[2] <= ZOOM_MAX * min(enc.size):
                continue
            top, left, side = box
            crops.append(ImageRef(np.ascontiguousarray(img.array[top : top + side, left : left + side])))
        self.encoder.encode_many(self.ctx, crops, min_batch=1, look=name)
        out = dict.fromkeys(LOOK_FEATURES, 0.0)
        for crop in crops:
            ev = self.presence_evidence(crop, name)
            for k in LOOK_FEATURES:
                out[k] = max(out[k], ev[k[1:]])
        return out
