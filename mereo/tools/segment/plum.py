"""The ``plum-small`` backend: the trained PLUM-small checkpoint behind ``Segmenter.segment``.

The image is resized to the model's square input, encoded once per image (content-hash cache,
namespace ``"segment:plum-small"``), and every span of every later call reuses that embedding
(so do the mirrored image's embedding, with flip averaging, and a zoomed window's). The
checkpoint's manifest chooses the inference settings, tuned on validation. Masks come back at
the image's own size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mereo.device import resolve_device
from mereo.errors import CheckpointError
from mereo.knowledge import canonical
from mereo.tools.base import ToolContext
from mereo.tools.segment.common import as_image, check_request, part_mask
from mereo.tools.segment.model import ImageFeatures, PlumConfig, PlumSmall, flip_average
from mereo.tools.segment.spans import char_spans, decode_tags
from mereo.tools.segment.text import describe_spans
from mereo.tools.segment.zoom import two_pass
from mereo.types import ImageRef, PartMask

#: Most word pieces the tagger reads from one text (longer texts are refused before this).
MAX_TOKENS = 512


def load_plum(name_or_path: str | None = None) -> tuple[PlumSmall, dict[str, Any]]:
    """Load a PLUM-small checkpoint: the committed one, a folder holding ``plum-small.*``, or a
    ``.safetensors`` file with its ``.json`` manifest beside it.

    Raises:
        CheckpointError: missing / corrupt files, or weights that do not fit the manifest's config.
    """
    from mereo.checkpoints import load_checkpoint

    if name_or_path is None:
        state, manifest = load_checkpoint("plum-small")
    else:
        p = Path(name_or_path)
        if p.is_dir():
            state, manifest = load_checkpoint("plum-small", directory=p)
        elif p.suffix == ".safetensors":
            state, manifest = load_checkpoint(p.stem, directory=p.parent)
        else:
            raise CheckpointError(
                f"plum-small checkpoint {name_or_path!r} is neither a folder nor a "
                ".safetensors file; use 'plum-small:/path/to/plum-small.safetensors'."
            )
    model = PlumSmall(PlumConfig.from_dict(manifest.get("config", {})))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"the plum-small weights do not fit its manifest's config ({e}).") from e
    return model.eval(), manifest


class PlumSegmenter:
    """Span-tag a description and segment each tagged part with PLUM-small.

    Args:
        ctx: the tool context (cache, device, events).
        model: a loaded model (``load_plum()`` when None).
        name: backend name used in ``source`` and the cache namespace.
        threshold: logit threshold of the masks.
        min_pixels: masks smaller than this (in the model's input pixels) count as "not found".
        presence_gate: drop spans whose presence logit is negative.
        zoom: segment twice, the second time on the square around what the first pass found
            (:func:`~mereo.tools.segment.zoom.two_pass`).
        flip: average the masks of the image and of its mirror (test-time augmentation; the
            mirror's embedding is cached too). Ignored with ``zoom``.

    The checkpoint's manifest chooses these (``inference``, tuned on validation).
    """

    def __init__(
        self,
        ctx: ToolContext,
        model: PlumSmall | None = None,
        name: str = "plum-small",
        threshold: float = 0.0,
        min_pixels: int = 4,
        presence_gate: bool = True,
        zoom: bool = False,
        flip: bool = False,
    ):
        self.ctx = ctx
        self.name = name
        self.device = resolve_device(ctx.device)
        self.model = (model if model is not None else load_plum()[0]).to(self.device).eval()
        self.threshold = threshold
        self.min_pixels = min_pixels
        self.presence_gate = presence_gate
        self.zoom = zoom
        self.flip = flip

    # -- pieces the evals reuse ------------------------------------------------------------------
    @torch.no_grad()
    def image_embedding(self, image: ImageRef) -> ImageFeatures:
        """The image's :data:`ImageFeatures` (batch 1), from the shared cache when computed before."""

        def compute() -> ImageFeatures:
            return self.model.encode_image(self.model_input(image))

        emb, hit = self.ctx.cache.get_or_compute(f"segment:{self.name}", image.sha256, compute)
        self.ctx.note(
            tool="segment",
            backend=self.name,
            cache="hit" if hit else "miss",
            what="image embedding",
            image=image.sha256[:12],
        )
        return emb

    def model_input(self, image: ImageRef) -> torch.Tensor:
        """The image resized to the model's input, ``1 x 3 x S x S`` uint8."""
        s = self.model.config.image_size
        arr = np.array(Image.fromarray(image.array).resize((s, s), Image.Resampling.BILINEAR))
        return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).to(self.device)

    @torch.no_grad()
    def tag_spans(self, text: str) -> tuple[list[tuple[int, int]], Any]:
        """Character spans the tagger marks in ``text``, and the token embeddings it read."""
        from mereo.text import get_encoder

        te = get_encoder().tokens([text], max_length=MAX_TOKENS)
        tokens = te.embeddings.to(self.device)
        tags = self.model.tag(tokens, te.attention_mask.to(self.device)).argmax(-1)[0].tolist()
        offs = te.offsets[0]
        return char_spans(decode_tags(tags, offs), offs), te

    # -- the Segmenter interface -----------------------------------------------------------------
    @torch.no_grad()
    def segment(
        self,
        image: Any,
        text: str | None = None,
        parts: Sequence[str] | None = None,
        object: str | None = None,
        image_index: int = 0,
    ) -> list[PartMask]:
        """Segment the parts named in ``text`` (span-tagged) or listed in ``parts``.

        With ``parts`` and no text, the text is ``describe(object, parts)`` and its spans are
        known. Returns one PartMask per part label found (instances and repeated mentions are
        unioned), in text order; parts the model finds empty are left out. See
        :mod:`mereo.tools.segment.common` for bad input.
        """
        from mereo.text import get_encoder

        img = as_image(image)
        req = check_request(text, parts, object, image_index)
        t0 = time.perf_counter()
        if req.text is not None:
            spans, te = self.tag_spans(req.text)
            full_text = req.text
            labels = [canonical(full_text[a:b]) for a, b in spans]
        else:
            desc = describe_spans(req.object, [canonical(p) for p in req.parts or []])
            full_text = desc.text
            te = get_encoder().tokens([full_text], max_length=MAX_TOKENS)
            spans = [(a, b) for a, b, _ in desc.spans]
            labels = [lab for _, _, lab in desc.spans]
        if not spans:
            self.ctx.note(tool="segment", backend=self.name, spans=0, text=full_text[:80])
            return []
        offs = te.offsets[0]
        index = torch.zeros(1, len(spans), len(offs))
        for k, (a, b) in enumerate(spans):
            for j, (x, y) in enumerate(offs):
                if y > x and x >= a and y <= b:
                    index[0, k, j] = 1.0
        emb = self.image_embedding(img)
        tokens = te.embeddings.to(self.device)
        queries = self.model.span_queries(tokens, index.to(self.device))
        context = self.model.context(tokens, te.attention_mask.to(self.device))
        if self.zoom:

            def encode_crop(crops: torch.Tensor, squares: torch.Tensor) -> ImageFeatures:
                key = f"{img.sha256}@" + ",".join(f"{v:.1f}" for v in squares[0].tolist())
                feats, hit = self.ctx.cache.get_or_compute(
                    f"segment:{self.name}:zoom", key, lambda: self.model.encode_image(crops)
                )
                self.ctx.note(
                    tool="segment",
                    backend=self.name,
                    cache="hit" if hit else "miss",
                    what="zoomed image embedding",
                    image=img.sha256[:12],
                    box=key.split("@")[1],
                )
                return feats

            logits, presence, _, _ = two_pass(
                self.model,
                self.model_input(img),
                queries,
                context,
                threshold=self.threshold,
                gate=self.presence_gate,
                out_hw=(img.height, img.width),
                first=emb,
                encode_crops=encode_crop,
            )
            up = logits[0]
        else:
            if self.flip:
                mirrored, _ = self.ctx.cache.get_or_compute(
                    f"segment:{self.name}:flip",
                    img.sha256,
                    lambda: self.model.encode_image(self.model_input(img).flip(-1)),
                )
                logits, presence = flip_average(self.model, emb, mirrored, queries, context)
            else:
                logits, presence = self.model.decode_all(emb, queries, context=context)
            up = F.interpolate(logits, size=(img.height, img.width), mode="bilinear", align_corners=False)[0]
        probs = torch.sigmoid(up).cpu().numpy()
        present = torch.sigmoid(presence[0]).cpu().numpy()
        min_px = self.min_pixels * img.height * img.width / self.model.config.image_size**2
        merged: dict[str, tuple[np.ndarray, float]] = {}
        for k, label in enumerate(labels):
            mask = (up[k] > self.threshold).cpu().numpy()
            if (self.presence_gate and present[k] < 0.5) or mask.sum() < min_px:
                continue
            score = float(present[k] * probs[k][mask].mean())
            if label in merged:
                old, old_score = merged[label]
                merged[label] = (old | mask, max(old_score, score))
            else:
                merged[label] = (mask, score)
        self.ctx.note(
            tool="segment",
            backend=self.name,
            spans=len(spans),
            found=len(merged),
            seconds=round(time.perf_counter() - t0, 4),
        )
        return [
            part_mask(
                lab, m, object=req.object, image_index=req.image_index, score=s, source=f"segment:{self.name}"
            )
            for lab, (m, s) in merged.items()
        ]


def build_plum(ctx: ToolContext, arg: str | None) -> PlumSegmenter:
    """Registry builder: ``plum-small`` or ``plum-small:/path/to/plum-small.safetensors``."""
    model, manifest = load_plum(arg)
    inference = manifest.get("inference", {})
    return PlumSegmenter(
        ctx,
        model=model,
        threshold=float(inference.get("threshold", 0.0)),
        presence_gate=bool(inference.get("presence_gate", True)),
        zoom=bool(inference.get("zoom", False)),
        flip=bool(inference.get("flip", False)),
    )
