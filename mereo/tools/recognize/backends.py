"""The CLIP recogniser backend: names objects in an image and scores regions against texts.

An image is encoded once per backend (whole-image embedding and projected patch tokens), cached
in ``ctx.cache`` under ``"recognize:<backend>"`` by the image's sha256.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mereo.errors import ValidationError
from mereo.tools.base import Recognition, ToolContext
from mereo.tools.correspond.backends import DenseFeatures
from mereo.tools.recognize.crops import crop_batch, square_box
from mereo.tools.recognize.detect import detect
from mereo.tools.recognize.model import ClipModel
from mereo.tools.recognize.texts import _check_texts, default_vocabulary
from mereo.tools.recognize.zeroshot import background_embedding, class_embeddings
from mereo.types import ImageRef, Mask


class ClipRecognizer:
    """Recognition with an open_clip CLIP (``clip-small`` or a published model).

    Args:
        name: backend name (cache namespace suffix).
        clip: the wrapped model.
        ctx: tool context.
        vocabulary: names used when ``recognize`` gets no candidates.
        describe: add knowledge-base part descriptions to each name's prompts.
    """

    def __init__(
        self,
        name: str,
        clip: ClipModel,
        ctx: ToolContext,
        vocabulary: Sequence[str] | None = None,
        describe: bool = False,
    ):
        self.name = name
        self.clip = clip
        self.ctx = ctx
        self.vocabulary = list(vocabulary) if vocabulary is not None else default_vocabulary()
        self.describe = describe
        self._class_cache: dict[tuple[str, ...], torch.Tensor] = {}
        self._bg: torch.Tensor | None = None

    # -- cached encodings -----------------------------------------------------------------------------
    def _encode(self, ref: ImageRef) -> dict[str, torch.Tensor]:
        def compute() -> dict[str, torch.Tensor]:
            with torch.no_grad():
                pooled, tokens = self.clip.image_and_tokens(self.clip.to_pixels(ref.array))
            out = {"embedding": F.normalize(pooled[0], dim=-1).float().cpu()}
            if tokens is not None:
                out["tokens"] = tokens[0].float().cpu()
            return out

        return self.ctx.cached(
            f"recognize:{self.name}", ref.sha256, compute, tool="recognize", backend=self.name
        )

    def patch_features(self, image: ImageRef | np.ndarray) -> DenseFeatures:
        """Projected CLIP patch tokens (``N x E``) on the model's grid (the ``clip-patches`` features)."""
        enc = self._encode(ImageRef(image))
        if "tokens" not in enc:
            raise ValidationError(f"recognize backend {self.name!r} has no patch tokens (not a ViT).")
        return DenseFeatures(tokens=enc["tokens"], grid=self.clip.grid)

    def _classes(self, names: Sequence[str]) -> torch.Tensor:
        key = tuple(names)
        if key not in self._class_cache:
            self._class_cache[key] = class_embeddings(self.clip, names, describe=self.describe)
        return self._class_cache[key]

    # -- the Recognizer protocol -------------------------------------------------------------------------
    def recognize(
        self, image: ImageRef, candidates: Sequence[str] | None = None, top_k: int = 3
    ) -> list[Recognition]:
        """The objects in the image, best first: label, score in ``[0, 1]``, ``(x, y, w, h)`` box, mask.

        Several objects are found from the patch tokens (see ``detect.py``); a model without patch
        tokens returns the best labels for the whole image instead.
        """
        ref = ImageRef(image)
        names = _check_texts(candidates, "candidates") if candidates is not None else self.vocabulary
        if top_k < 1:
            raise ValidationError(f"top_k must be at least 1, got {top_k}.")
        enc = self._encode(ref)
        classes = self._classes(names)
        if "tokens" not in enc:
            probs = torch.softmax(float(self.clip.logit_scale) * enc["embedding"] @ classes.T, dim=-1)
            best = probs.argsort(descending=True)[:top_k].tolist()
            box = (0.0, 0.0, float(ref.width), float(ref.height))
            return [Recognition(label=names[i], score=float(probs[i]), box=box) for i in best]
        if self._bg is None:
            self._bg = background_embedding(self.clip)
        dets = detect(self.clip, ref.array, classes, self._bg, enc["tokens"], self.clip.grid)
        return [
            Recognition(
                label=names[d.label],
                score=min(1.0, max(0.0, d.score)),
                box=d.box,
                mask=Mask.from_numpy(d.mask),
            )
            for d in dets[:top_k]
        ]

    def score(self, image: ImageRef, mask: Mask | None, texts: Sequence[str]) -> list[float]:
        """Cosine similarity in ``[-1, 1]`` of the region (square crop around ``mask``, or the whole
        image when ``mask`` is None) to each text (prompted as given)."""
        ref = ImageRef(image)
        checked = _check_texts(texts, "texts")
        if mask is None:
            emb = self._encode(ref)["embedding"]
        else:
            if not isinstance(mask, Mask):
                raise ValidationError(f"mask must be a mereo.types.Mask or None, got {type(mask).__name__}.")
            if tuple(mask.size) != (ref.height, ref.width):
                raise ValidationError(
                    f"mask is {mask.size[1]}x{mask.size[0]} but the image is "
                    f"{ref.width}x{ref.height}; give the mask in the image's frame."
                )
            if mask.is_empty():
                raise ValidationError("mask is empty; give a mask with at least one pixel or None.")
            crop = crop_batch(ref.array[None], [0], [square_box(mask.to_numpy())], self.clip.image_size)
            with torch.no_grad():
                emb = F.normalize(self.clip.image_and_tokens(self.clip.normalize(crop))[0][0], dim=-1).cpu()
        txt = self.clip.encode_texts(checked)
        return [float(s) for s in (txt @ emb.float()).clamp(-1, 1)]
