"""What the open-vocabulary detector backends (``owlv2``, ``grounding-dino``) share.

A detector turns an image and a list of names into per-query scores for each name and a box per
query. From those, :class:`OpenVocabRecognizer` gives ranked :class:`~mereo.tools.base.Recognition`
objects (one per detected instance, duplicates of one object removed by box overlap) and region
scores (the best score of each text inside a masked crop). Boxes are ``(x, y, w, h)`` in pixels
of the image given; recognitions carry no mask (the agent then uses the box, and the ``per-image``
co-segmenter combines them with a segmenter's masks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mereo.errors import ValidationError
from mereo.tools.base import Recognition, ToolContext
from mereo.tools.recognize.texts import _check_texts
from mereo.types import ImageRef, Mask

#: Two detections whose boxes overlap more than this (IoU) are one object; the better one stays.
NMS_IOU = 0.7
#: Most names accepted in one call.
MAX_TEXTS = 1024
#: Grey value outside a region's mask when scoring it.
GREY = 127


@dataclass
class Detections:
    """A detector's raw output on one image.

    Attributes:
        scores: ``Q x T`` probabilities in ``[0, 1]`` of each query box showing each text.
        boxes: ``Q x 4`` boxes ``(x0, y0, x1, y1)`` in the pixels of the image given, clipped to it.
    """

    scores: np.ndarray
    boxes: np.ndarray


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``(x0, y0, x1, y1)`` boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return 0.0 if union <= 0 else float(inter / union)


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``N x 4`` ``(cx, cy, w, h)`` boxes as ``(x0, y0, x1, y1)``, in the same units."""
    cx, cy, w, h = np.asarray(boxes).T
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """``N x 4`` ``(x0, y0, x1, y1)`` boxes clipped to the image (and ordered so x0 <= x1, y0 <= y1)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, x1 = np.minimum(b[:, 0], b[:, 2]), np.maximum(b[:, 0], b[:, 2])
    y0, y1 = np.minimum(b[:, 1], b[:, 3]), np.maximum(b[:, 1], b[:, 3])
    return np.stack(
        [np.clip(x0, 0, width), np.clip(y0, 0, height), np.clip(x1, 0, width), np.clip(y1, 0, height)], axis=1
    )


class OpenVocabRecognizer:
    """Recognition from an open-vocabulary detector; subclasses implement :meth:`detect`.

    Args:
        name: the backend name (cache namespace).
        ctx: the tool context.
        vocabulary: names used when ``recognize`` gets no candidates (default: the knowledge base's
            object names).
        threshold: detections scoring at most this are dropped.
    """

    name: str

    def __init__(
        self, name: str, ctx: ToolContext, vocabulary: Sequence[str] | None = None, threshold: float = 0.1
    ):
        self.name = name
        self.ctx = ctx
        self.threshold = threshold
        self._vocabulary = list(vocabulary) if vocabulary else None

    def vocabulary(self) -> list[str]:
        """The object names looked for when no candidates are given."""
        if self._vocabulary is None:
            from mereo.knowledge import PartHierarchy

            self._vocabulary = PartHierarchy.default().object_vocabulary()
        return self._vocabulary

    def detect(self, image: ImageRef, texts: Sequence[str]) -> Detections:
        """Scores of every query box for each text, and the boxes (see :class:`Detections`)."""
        raise NotImplementedError

    def _texts(self, texts: Sequence[str] | None, what: str) -> list[str]:
        names = self.vocabulary() if texts is None else _check_texts(texts, what)
        if len(names) > MAX_TEXTS:
            raise ValidationError(f"{what} holds {len(names)} names; at most {MAX_TEXTS} are allowed.")
        return list(dict.fromkeys(names))

    def recognize(
        self, image: ImageRef, candidates: Sequence[str] | None = None, top_k: int = 3
    ) -> list[Recognition]:
        """The ``top_k`` best detections (one per object instance), best first.

        Args:
            image: the image.
            candidates: the names to look for (default: :meth:`vocabulary`).
            top_k: most recognitions returned (at least 1).

        Returns:
            Recognitions with ``label`` from the names, ``score`` in ``[0, 1]`` and ``box`` ``(x, y, w, h)``
            in pixels; empty when nothing scores above the threshold.
        """
        ref = ImageRef(image)
        if not isinstance(top_k, int) or top_k < 1:
            raise ValidationError(f"top_k must be a positive integer, got {top_k!r}")
        names = self._texts(candidates, "candidates")
        det = self.detect(ref, names)
        best = det.scores.argmax(axis=1) if det.scores.size else np.zeros(0, dtype=int)
        score = det.scores.max(axis=1) if det.scores.size else np.zeros(0)
        kept: list[int] = []
        for q in np.argsort(-score, kind="stable"):
            if score[q] <= self.threshold or len(kept) >= top_k:
                break
            box = det.boxes[q]
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue
            if any(box_iou(box, det.boxes[k]) > NMS_IOU for k in kept):
                continue
            kept.append(int(q))
        return [
            Recognition(
                label=names[int(best[q])],
                score=float(np.clip(score[q], 0.0, 1.0)),
                box=(
                    float(det.boxes[q, 0]),
                    float(det.boxes[q, 1]),
                    float(det.boxes[q, 2] - det.boxes[q, 0]),
                    float(det.boxes[q, 3] - det.boxes[q, 1]),
                ),
            )
            for q in kept
        ]

    def score(self, image: ImageRef, mask: Mask | None, texts: Sequence[str]) -> list[float]:
        """The best detection score of each text inside the region (the masked crop; whole image if None).

        Returns:
            One score in ``[0, 1]`` per text.
        """
        ref = ImageRef(image)
        names = _check_texts(texts, "texts")
        if mask is not None:
            if tuple(mask.size) != (ref.height, ref.width):
                raise ValidationError(
                    f"mask size {tuple(mask.size)} does not match the image ({ref.height}, {ref.width})"
                )
            if mask.area == 0:
                return [0.0] * len(names)
            m = mask.to_numpy()
            x, y, w, h = (int(round(v)) for v in mask.bbox())
            grey = np.where(m[..., None], ref.array, GREY).astype(np.uint8)
            crop = grey[y : y + max(1, h), x : x + max(1, w)]
            if min(crop.shape[:2]) < 8:  # ImageRef's smallest side; pad tiny regions with grey
                pad_h, pad_w = max(0, 8 - crop.shape[0]), max(0, 8 - crop.shape[1])
                crop = np.pad(crop, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=GREY)
            ref = ImageRef(crop)
        det = self.detect(ref, names)
        if det.scores.size == 0:
            return [0.0] * len(names)
        return [float(np.clip(v, 0.0, 1.0)) for v in det.scores.max(axis=0)]


class HubDetectorRecognizer(OpenVocabRecognizer):
    """An :class:`OpenVocabRecognizer` over a ``transformers`` detector and its processor.

    Args:
        ctx: the tool context (its ``device`` places the model).
        model: the detection model (moved to the device, put in eval mode).
        processor: its processor.
        name: the backend name.
        threshold: detections scoring at most this are dropped.
    """

    def __init__(self, ctx: ToolContext, model: Any, processor: Any, name: str, threshold: float = 0.1):
        from mereo.device import resolve_device

        super().__init__(name, ctx, threshold=threshold)
        self.device = resolve_device(ctx.device)
        self.model = model.to(self.device).eval()
        self.processor = processor

    def _note(self, hit: bool, what: str, image: ImageRef) -> None:
        """Log one cache look-up of this backend on ``image`` (see :meth:`ToolContext.note`)."""
        self.ctx.note(
            tool="recognize",
            backend=self.name,
            cache="hit" if hit else "miss",
            what=what,
            image=image.sha256[:12],
        )
