"""The ``grounding-dino`` backend: open-vocabulary detection with Grounding DINO (transformers).

Grounding DINO reads the names as one prompt (``"chair. cat. dog."``) and scores each query box
against every prompt token; a name's score is the highest probability among its tokens. Image and
text are fused early, so the whole detection (not the image features alone) is cached, in
``ctx.cache`` under ``"recognize:<name>"`` by the image's sha256 and the prompt. A vocabulary
longer than the model's text length is split into several prompts.

Backend names::

    grounding-dino:IDEA-Research/grounding-dino-tiny   # hub id (in the local cache when offline)
    grounding-dino:/models/grounding-dino              # a save_pretrained folder (model + processor)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mereo.tools import hub
from mereo.tools.base import ToolContext
from mereo.tools.recognize.open_vocab import Detections, HubDetectorRecognizer, clip_boxes, cxcywh_to_xyxy
from mereo.types import ImageRef


class GroundingDinoRecognizer(HubDetectorRecognizer):
    """Grounding DINO detections as recognitions; see the module docstring.

    Args:
        ctx: the tool context.
        model: a ``GroundingDinoForObjectDetection``.
        processor: its ``GroundingDinoProcessor``.
        name: the backend name.
    """

    def __init__(self, ctx: ToolContext, model: Any, processor: Any, name: str, threshold: float = 0.1):
        super().__init__(ctx, model, processor, name, threshold=threshold)
        self.max_text = int(getattr(model.config, "max_text_len", 256))

    def prompts(self, texts: Sequence[str]) -> list[list[str]]:
        """The names split into groups whose prompt fits the model's text length."""
        tok = self.processor.tokenizer
        groups: list[list[str]] = [[]]
        used = 2  # [CLS] and [SEP]
        for t in texts:
            n = len(tok(f"{t.lower()}.", add_special_tokens=False)["input_ids"])
            if groups[-1] and used + n > self.max_text:
                groups.append([])
                used = 2
            groups[-1].append(t)
            used += n
        return groups

    @torch.no_grad()
    def _detect_prompt(self, image: ImageRef, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(Q x len(names) scores, Q x 4 (cx, cy, w, h) boxes in [0, 1])`` for one prompt; cached."""
        prompt = " ".join(f"{n.lower()}." for n in names)
        key = f"{image.sha256}:{hashlib.sha256(prompt.encode()).hexdigest()[:16]}"

        def compute() -> tuple[np.ndarray, np.ndarray]:
            inputs = self.processor(
                images=image.pil(), text=prompt, return_tensors="pt", return_offsets_mapping=True
            )
            offsets = inputs.pop("offset_mapping")[0].tolist()
            out = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
            probs = out.logits[0].float().sigmoid().cpu()  # Q x max_text_len
            spans, start = [], 0
            for n in names:
                spans.append((start, start + len(n)))
                start += len(n) + 2  # the name, ". "
            scores = torch.zeros(probs.shape[0], len(names))
            for j, (a, b) in enumerate(spans):
                toks = [i for i, (s, e) in enumerate(offsets) if e > s and s >= a and e <= b]
                if toks:
                    scores[:, j] = probs[:, toks].max(dim=1).values
            return scores.numpy(), out.pred_boxes[0].float().cpu().numpy()

        value, hit = self.ctx.cache.get_or_compute(f"recognize:{self.name}", key, compute)
        self._note(hit, f"Grounding DINO detections for {len(names)} names", image)
        return value

    def detect(self, image: ImageRef, texts: Sequence[str]) -> Detections:
        """Scores of every query box for each name; a box per query and prompt, in the image's pixels."""
        all_scores, all_boxes = [], []
        groups = self.prompts(texts)
        col = 0
        for names in groups:
            scores, boxes = self._detect_prompt(image, names)
            full = np.zeros((scores.shape[0], len(texts)), dtype=np.float32)
            full[:, col : col + len(names)] = scores
            col += len(names)
            all_scores.append(full)
            all_boxes.append(cxcywh_to_xyxy(boxes * [image.width, image.height, image.width, image.height]))
        return Detections(
            scores=np.concatenate(all_scores),
            boxes=clip_boxes(np.concatenate(all_boxes), image.height, image.width),
        )


def build_grounding_dino(ctx: ToolContext, arg: str | None) -> GroundingDinoRecognizer:
    """Registry builder for ``grounding-dino:<hub id or folder>``.

    Raises:
        CheckpointError: no weights named, a missing folder, or a hub id not on disk offline.
    """
    from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

    source = hub.require_source(arg, "grounding-dino")
    model = hub.load(GroundingDinoForObjectDetection.from_pretrained, source, "grounding-dino")
    processor = hub.load(GroundingDinoProcessor.from_pretrained, source, "grounding-dino")
    return GroundingDinoRecognizer(ctx, model, processor, name=f"grounding-dino:{source}")
