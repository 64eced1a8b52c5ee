"""The ``sam3`` backend: part masks from SAM 3 (``transformers.Sam3Model``) prompted with noun phrases.

SAM 3 takes a short noun phrase and returns a mask, a box and a score for every instance of it.
Each requested part becomes the phrase ``"<part> of <object>"`` (``"leg of chair"``), and every
instance above the score threshold becomes its own :class:`~mereo.types.PartMask` (several masks
with the same label: counting questions need them). ``PartMask.score`` is SAM 3's instance score
(the query's class probability times the image-level presence probability).

The image is encoded once per backend (SAM 3's vision features, cached in ``ctx.cache`` under
``"segment:<name>"`` by the image's sha256); all phrases of all calls on that image reuse them.
When the agent knows where the object is (``box``, from recognition), SAM 3 runs on the object's
crop (padded by :data:`CROP_PAD`), so small objects' parts are seen at SAM 3's full resolution;
the crop's features are cached by image and crop.

Backend names::

    sam3:facebook/sam3                      # hub id (must be in the local cache when offline)
    sam3:/models/sam3                       # a save_pretrained folder (model + processor)
    sam3:model=/models/sam3,threshold=0.3,max_instances=10
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mereo.errors import ValidationError
from mereo.tools import hub
from mereo.tools.base import ToolContext
from mereo.tools.segment.common import check_request, part_mask, wanted_parts
from mereo.types import ImageRef, PartMask

#: A crop around the object's box is padded by this fraction of the box's size on each side.
CROP_PAD = 0.1
#: Phrases sent to SAM 3 in one batch (the vision features are shared, not copied).
PHRASE_BATCH = 4


@dataclass
class Sam3Settings:
    """Where the weights are and which instances are kept.

    Attributes:
        model: hub id or ``save_pretrained`` folder.
        threshold: instances scoring at most this are dropped (``[0, 1]``).
        mask_threshold: mask probability above which a pixel is in the mask.
        max_instances: most instances kept per part (highest scores first).
    """

    model: str = ""
    threshold: float = 0.4
    mask_threshold: float = 0.5
    max_instances: int = 20

    @classmethod
    def parse(cls, arg: str | None) -> Sam3Settings:
        """Settings from the backend argument (a source, or ``key=value`` pairs)."""
        s = cls()
        if arg and "=" in arg:
            for item in arg.split(","):
                key, _, value = (t.strip() for t in item.partition("="))
                try:
                    if key == "model":
                        s.model = value
                    elif key in ("threshold", "mask_threshold"):
                        setattr(s, key, float(value))
                    elif key == "max_instances":
                        s.max_instances = int(value)
                    else:
                        raise ValidationError(
                            f"unknown sam3 setting {key!r}; use model, threshold, mask_threshold, "
                            "max_instances."
                        )
                except ValueError as e:
                    raise ValidationError(f"bad sam3 setting {item!r}: {e}") from e
        else:
            s.model = arg or ""
        s.model = hub.require_source(s.model, "sam3")
        if not (0.0 <= s.threshold < 1.0 and 0.0 <= s.mask_threshold < 1.0) or s.max_instances < 1:
            raise ValidationError("sam3 thresholds must lie in [0, 1) and max_instances must be at least 1.")
        return s


def _expand(features: Any, n: int) -> Any:
    """The vision features of one image as a batch of ``n`` (views, no copies)."""

    def grow(v: Any) -> Any:
        if torch.is_tensor(v):
            return v.expand(n, *v.shape[1:])
        if isinstance(v, tuple):
            return tuple(grow(t) for t in v)
        return v

    return type(features)(**{k: grow(v) for k, v in features.items()})


def crop_box(box: Sequence[float], height: int, width: int) -> tuple[int, int, int, int]:
    """The padded crop ``(x0, y0, x1, y1)`` (pixels, end exclusive) around a box ``(x, y, w, h)``.

    Raises:
        ValidationError: a box that is not four finite numbers with positive size.
    """
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"box must be (x, y, w, h) in pixels, got {box!r}") from e
    if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        raise ValidationError(f"box must have a positive width and height, got {box!r}")
    px, py = max(8.0, CROP_PAD * w), max(8.0, CROP_PAD * h)
    x0, y0 = max(0, int(np.floor(x - px))), max(0, int(np.floor(y - py)))
    x1, y1 = min(width, int(np.ceil(x + w + px))), min(height, int(np.ceil(y + h + py)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return (0, 0, width, height)
    return (x0, y0, x1, y1)


class Sam3Segmenter:
    """SAM 3 prompted with ``"<part> of <object>"``; see the module docstring.

    Args:
        ctx: the tool context (cache, device, notes).
        model: a ``transformers.Sam3Model``.
        processor: its ``Sam3Processor``.
        settings: thresholds and limits.
        name: the backend name (cache namespace, ``PartMask.source``).
    """

    #: The agent passes the recognised object's box to backends that set this.
    uses_box = True

    def __init__(self, ctx: ToolContext, model: Any, processor: Any, settings: Sam3Settings, name: str):
        from mereo.device import resolve_device

        self.ctx = ctx
        self.name = name
        self.settings = settings
        self.device = resolve_device(ctx.device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        self._vocabulary: list[str] | None = None

    def vocabulary(self) -> list[str]:
        """Part names looked for in a description text (the knowledge base's part vocabulary)."""
        if self._vocabulary is None:
            from mereo.knowledge import PartHierarchy

            self._vocabulary = PartHierarchy.default().part_vocabulary()
        return self._vocabulary

    @torch.no_grad()
    def features(self, image: ImageRef, crop: tuple[int, int, int, int] | None = None) -> Any:
        """SAM 3's vision features of the image (or of a crop ``(x0, y0, x1, y1)``); cached.

        Returns:
            A ``Sam3VisionEncoderOutput`` of batch size 1 on the model's device.
        """
        x0, y0, x1, y1 = crop or (0, 0, image.width, image.height)
        key = image.sha256 if crop is None else f"{image.sha256}:{x0},{y0},{x1},{y1}"

        def compute() -> Any:
            pixels = np.ascontiguousarray(image.array[y0:y1, x0:x1])
            inputs = self.processor(images=pixels, return_tensors="pt")
            return self.model.get_vision_features(pixel_values=inputs["pixel_values"].to(self.device))

        value, hit = self.ctx.cache.get_or_compute(f"segment:{self.name}", key, compute)
        self.ctx.note(
            tool="segment",
            backend=self.name,
            cache="hit" if hit else "miss",
            what="SAM 3 vision features" + ("" if crop is None else f" of crop {x0},{y0},{x1},{y1}"),
            image=image.sha256[:12],
        )
        return value

    @torch.no_grad()
    def instances(
        self, image: ImageRef, phrases: Sequence[str], crop: tuple[int, int, int, int] | None = None
    ) -> list[list[tuple[np.ndarray, float]]]:
        """Every instance SAM 3 finds for each phrase, as ``(H x W bool mask, score)``, best first.

        Masks are in the full image's pixel frame (a crop's masks are pasted back).
        """
        s = self.settings
        x0, y0, x1, y1 = crop or (0, 0, image.width, image.height)
        vision = self.features(image, crop)
        out: list[list[tuple[np.ndarray, float]]] = []
        for start in range(0, len(phrases), PHRASE_BATCH):
            batch = list(phrases[start : start + PHRASE_BATCH])
            text = self.processor(text=batch, return_tensors="pt")
            result = self.model(
                vision_embeds=_expand(vision, len(batch)),
                input_ids=text["input_ids"].to(self.device),
                attention_mask=text["attention_mask"].to(self.device),
            )
            scores = result.pred_logits.float().sigmoid()
            if result.presence_logits is not None:
                scores = scores * result.presence_logits.float().sigmoid()
            for b in range(len(batch)):
                keep = torch.nonzero(scores[b] > s.threshold).flatten()
                keep = keep[scores[b, keep].argsort(descending=True)][: s.max_instances]
                found: list[tuple[np.ndarray, float]] = []
                if len(keep):
                    probs = torch.nn.functional.interpolate(
                        result.pred_masks[b, keep][None].float(),
                        size=(y1 - y0, x1 - x0),
                        mode="bilinear",
                        align_corners=False,
                    )[0].sigmoid()
                    for q, m in zip(keep.tolist(), (probs > s.mask_threshold).cpu().numpy(), strict=True):
                        if not m.any():
                            continue
                        full = np.zeros((image.height, image.width), dtype=bool)
                        full[y0:y1, x0:x1] = m
                        found.append((full, float(scores[b, q])))
                out.append(found)
        return out

    def segment(
        self,
        image: Any,
        text: str | None = None,
        parts: Sequence[str] | None = None,
        object: str | None = None,
        image_index: int = 0,
        box: Sequence[float] | None = None,
    ) -> list[PartMask]:
        """One PartMask per instance of each requested part (parts from ``parts`` or named in ``text``).

        Args:
            image: the image (ImageRef, path, PIL image or ``H x W x 3`` uint8 array).
            text: a description naming parts (used when ``parts`` is not given).
            parts: part names.
            object: the object the parts belong to (``"chair"``); phrases are ``"<part> of <object>"``.
            image_index: copied into each PartMask.
            box: the object's box ``(x, y, w, h)`` in pixels; SAM 3 then looks inside its padded crop.

        Returns:
            Instances of every part found, each with SAM 3's score; parts not found are left out.
        """
        img = ImageRef(image)
        req = check_request(text, parts, object, image_index)
        wanted = wanted_parts(req, self.vocabulary)
        wanted = [w for w in dict.fromkeys(wanted) if w]
        if not wanted:
            return []
        crop = crop_box(box, img.height, img.width) if box is not None else None
        phrases = [f"{p} of {req.object}" if req.object else p for p in wanted]
        out = []
        for label, found in zip(wanted, self.instances(img, phrases, crop), strict=True):
            for mask, score in found:
                out.append(
                    part_mask(
                        label,
                        mask,
                        object=req.object,
                        image_index=req.image_index,
                        score=score,
                        source=f"segment:{self.name}",
                    )
                )
        return out


def build_sam3(ctx: ToolContext, arg: str | None) -> Sam3Segmenter:
    """Registry builder for ``sam3:<hub id or folder>`` (see the module docstring).

    Raises:
        CheckpointError: no weights named, a missing folder, or a hub id not on disk offline.
    """
    from transformers import Sam3Model, Sam3Processor

    settings = Sam3Settings.parse(arg)
    model = hub.load(Sam3Model.from_pretrained, settings.model, "sam3")
    processor = hub.load(Sam3Processor.from_pretrained, settings.model, "sam3")
    return Sam3Segmenter(ctx, model, processor, settings, name=f"sam3:{arg}")
