"""The ``synthparts-cnn`` recognize backend: objects named from the shared encoder's object embedding.

Instances come from the encoder's instance embedding (see :mod:`mereo.tools.encoder.instances`);
each is named by the cosine of its mean object embedding with the MiniLM vectors of the candidate
names (SynthParts' categories by default), so any name can be a candidate (open vocabulary). The
image is encoded once per agent (``ToolContext.cache``, namespace ``"encoder:synthparts-cnn"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mereo.errors import ValidationError
from mereo.tools.base import Recognition, ToolContext
from mereo.tools.encoder.instances import cached_instances, name_scores, region_embedding
from mereo.tools.encoder.runtime import SharedEncoder, load_encoder
from mereo.tools.encoder.text import name_embeddings
from mereo.tools.recognize.texts import _check_texts, default_vocabulary
from mereo.types import ImageRef, Mask


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` pixel box of a non-empty ``H x W`` bool mask."""
    ys, xs = np.nonzero(mask)
    x0, y0 = float(xs.min()), float(ys.min())
    return (x0, y0, float(xs.max()) + 1 - x0, float(ys.max()) + 1 - y0)


class SharedEncoderRecognizer:
    """Name the objects of an image from the shared encoder's instance and object heads.

    Args:
        ctx: the tool context (cache, events).
        encoder: the loaded shared encoder.
        name: backend name.
    """

    def __init__(self, ctx: ToolContext, encoder: SharedEncoder, name: str = "synthparts-cnn"):
        self.ctx = ctx
        self.encoder = encoder
        self.name = name
        self.vocabulary = default_vocabulary()

    @torch.no_grad()
    def recognize(
        self, image: Any, candidates: Sequence[str] | None = None, top_k: int = 3
    ) -> list[Recognition]:
        """The objects in the image, best first: label, score in ``[0, 1]``, ``(x, y, w, h)`` box, mask.

        One Recognition per instance found (its best name), at most ``top_k``; ranked by score.
        An image where no instance is found gets the best names of the whole image instead.
        """
        ref = ImageRef(image)
        names = _check_texts(candidates, "candidates") if candidates is not None else self.vocabulary
        if top_k < 1:
            raise ValidationError(f"top_k must be at least 1, got {top_k}.")
        enc = self.encoder.encode(self.ctx, ref)
        instances = cached_instances(self.ctx, self.encoder, ref, enc, list(names))
        if not instances:
            probs = name_scores(self.encoder, region_embedding(enc, None)[None], names)[0]
            box = (0.0, 0.0, float(ref.width), float(ref.height))
            best = probs.argsort(descending=True)[:top_k].tolist()
            return [Recognition(label=names[i], score=float(probs[i]), box=box) for i in best]
        probs = name_scores(self.encoder, torch.stack([i.embedding for i in instances]), names)
        found = []
        for inst, p in zip(instances, probs, strict=True):
            j = int(p.argmax())
            found.append(
                Recognition(
                    label=names[j],
                    score=min(1.0, max(0.0, float(p[j]))),
                    box=mask_box(inst.mask),
                    mask=Mask.from_numpy(inst.mask),
                )
            )
        found.sort(key=lambda r: -r.score)
        return found[:top_k]

    @torch.no_grad()
    def score(self, image: Any, mask: Mask | None, texts: Sequence[str]) -> list[float]:
        """Cosine similarity in ``[-1, 1]`` of the region's mean object embedding to each text's
        name vector (the whole image when ``mask`` is None)."""
        ref = ImageRef(image)
        checked = _check_texts(texts, "texts")
        if mask is not None and not isinstance(mask, Mask):
            raise ValidationError(f"mask must be a mereo Mask or None, got {type(mask).__name__}")
        arr = mask.to_numpy() if mask is not None else None
        if arr is not None and arr.shape != (ref.height, ref.width):
            raise ValidationError(
                f"mask is {arr.shape[1]}x{arr.shape[0]} but the image is {ref.width}x{ref.height}."
            )
        enc = self.encoder.encode(self.ctx, ref)
        emb = region_embedding(enc, arr)
        return [float(v) for v in (name_embeddings(checked) @ emb).clamp(-1, 1)]


def build_shared_recognizer(ctx: ToolContext, arg: str | None) -> SharedEncoderRecognizer:
    """Registry builder: ``synthparts-cnn`` or ``synthparts-cnn:/path/to/encoder.safetensors``."""
    return SharedEncoderRecognizer(ctx, load_encoder(arg))
