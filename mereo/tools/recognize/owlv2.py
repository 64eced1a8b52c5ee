"""The ``owlv2`` backend: open-vocabulary detection with OWLv2 (``transformers.Owlv2ForObjectDetection``).

OWLv2 scores every patch box of the image against every name. The image side (patch features,
boxes) is computed once per image and cached in ``ctx.cache`` under ``"recognize:<name>"``; the
names' text embeddings are cached per name, so asking for other candidates on the same image
costs only the class head. OWLv2 pads images to a square; boxes are mapped back to the image.

Backend names::

    owlv2:google/owlv2-base-patch16-ensemble     # hub id (in the local cache when offline)
    owlv2:/models/owlv2                          # a save_pretrained folder (model + processor)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mereo.tools import hub
from mereo.tools.base import ToolContext
from mereo.tools.recognize.open_vocab import Detections, HubDetectorRecognizer, clip_boxes, cxcywh_to_xyxy
from mereo.types import ImageRef

#: Names embedded by the text tower in one batch.
TEXT_BATCH = 64


class Owlv2Recognizer(HubDetectorRecognizer):
    """OWLv2 detections as recognitions; see the module docstring.

    Args:
        ctx: the tool context.
        model: an ``Owlv2ForObjectDetection``.
        processor: its ``Owlv2Processor``.
        name: the backend name.
    """

    def __init__(self, ctx: ToolContext, model: Any, processor: Any, name: str, threshold: float = 0.1):
        super().__init__(ctx, model, processor, name, threshold=threshold)
        self.max_text = int(model.config.text_config.max_position_embeddings)
        self._text: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def image_features(self, image: ImageRef) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(patch features P x D, boxes P x 4 (cx, cy, w, h) in [0, 1] of the padded square,
        objectness-free feature map)`` of one image; cached by its sha256."""

        def compute() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            pixels = self.processor(images=image.pil(), return_tensors="pt")["pixel_values"].to(self.device)
            feature_map, _ = self.model.image_embedder(pixel_values=pixels)
            b, h, w, d = feature_map.shape
            feats = feature_map.reshape(b, h * w, d)
            boxes = self.model.box_predictor(feats, feature_map)
            return feats, boxes, feature_map

        value, hit = self.ctx.cache.get_or_compute(f"recognize:{self.name}", image.sha256, compute)
        self._note(hit, "OWLv2 patch features and boxes", image)
        return value

    @torch.no_grad()
    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """``T x D`` text embeddings of the names (cached per name)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._text]
        for start in range(0, len(todo), TEXT_BATCH):
            batch = todo[start : start + TEXT_BATCH]
            tok = self.processor.tokenizer(
                batch, padding="max_length", truncation=True, max_length=self.max_text, return_tensors="pt"
            )
            ids, mask = tok["input_ids"].to(self.device), tok["attention_mask"].to(self.device)
            emb = self.model.owlv2.get_text_features(input_ids=ids, attention_mask=mask).pooler_output
            for t, e in zip(batch, emb, strict=True):
                self._text[t] = e
        return torch.stack([self._text[t] for t in texts])

    @torch.no_grad()
    def detect(self, image: ImageRef, texts: Sequence[str]) -> Detections:
        """Class probabilities of every patch box for each name, boxes in the image's pixels."""
        feats, boxes, _ = self.image_features(image)
        query = self.text_features(texts)[None]
        mask = torch.ones(query.shape[:2], dtype=torch.bool, device=self.device)
        logits, _ = self.model.class_predictor(feats, query, mask)
        scores = logits[0].float().sigmoid().cpu().numpy()
        side = max(image.height, image.width)  # OWLv2 pads to a square at the bottom and right
        xyxy = cxcywh_to_xyxy(boxes[0].float().cpu().numpy() * side)
        return Detections(scores=scores, boxes=clip_boxes(xyxy, image.height, image.width))


def build_owlv2(ctx: ToolContext, arg: str | None) -> Owlv2Recognizer:
    """Registry builder for ``owlv2:<hub id or folder>``.

    Raises:
        CheckpointError: no weights named, a missing folder, or a hub id not on disk offline.
    """
    from transformers import Owlv2ForObjectDetection, Owlv2Processor

    source = hub.require_source(arg, "owlv2")
    model = hub.load(Owlv2ForObjectDetection.from_pretrained, source, "owlv2")
    processor = hub.load(Owlv2Processor.from_pretrained, source, "owlv2")
    return Owlv2Recognizer(ctx, model, processor, name=f"owlv2:{source}")
