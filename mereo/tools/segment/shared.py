"""The ``synthparts-cnn`` segment backend: part masks from the shared encoder's dense heads.

A text is span-tagged by PLUM-small's tagger (or a part list is taken as given); each tagged span
is resolved to a part kind of the encoder (exactly, else the nearest part name by MiniLM
similarity). The mask of a part is the encoder's part-kind map restricted to the named object's
instance: instances come from the instance embedding, and the instance whose object embedding
is nearest the object's name is the named object (all objects when no object is named). The
image is encoded once per agent (``ToolContext.cache``, namespace ``"encoder:synthparts-cnn"``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mereo.errors import ValidationError
from mereo.knowledge import canonical
from mereo.tools.base import ToolContext
from mereo.tools.encoder.instances import Instance, cached_instances, name_scores, part_map
from mereo.tools.encoder.refine import DEFAULT as DEFAULT_REFINE
from mereo.tools.encoder.refine import RefineSettings, best_class, cached_weights, refine
from mereo.tools.encoder.runtime import Encoded, SharedEncoder, load_encoder
from mereo.tools.segment.common import check_request, part_mask
from mereo.tools.segment.evidence import PresenceEvidence
from mereo.tools.segment.zoomed import Zoomed, ZoomedViews
from mereo.types import ImageRef, PartMask

#: a span that is no known part kind maps to the nearest one only above this MiniLM cosine
MIN_NAME_SIMILARITY = 0.6
#: parts smaller than this share of the image are "not found"
MIN_FRACTION = 5e-4
#: a part no pixel was labelled with gets the object's pixels where its probability reaches
#: FILL_SHARE of its peak, when the peak reaches FILL_MIN (tuned on val: identification gIoU
#: 0.605 -> 0.631; gold parts left without a mask 17.7% -> 7%)
FILL_MIN, FILL_SHARE = 0.02, 0.2


class SharedEncoderSegmenter(ZoomedViews, PresenceEvidence):
    """Segment named parts from the shared encoder's part-kind and instance heads.

    Args:
        ctx: the tool context (cache, events).
        encoder: the loaded shared encoder.
        name: backend name (``source`` of the masks).
        tagger: an object with ``tag_spans(text) -> (spans, tokens)`` (PLUM-small's tagger when None,
            loaded on the first text).
        restrict: a pixel's part kind is chosen among background, the named parts and the named
            object's known parts only (otherwise among every part kind).
        refine: colour-guided refinement of part and object outlines at image pixels
            (:mod:`mereo.tools.encoder.refine`); None: bilinear upsampling of the cell maps.
        zoom: segment a named object that fills at most :data:`ZOOM_MAX` of the image from a
            second encoding of a crop around it, its outline and its part kinds (the encoder's
            last stage trains on such views).
        fill: a named part that no pixel of the named object was labelled with gets its
            :meth:`best_guess` (with the lower score of its peak) instead of no mask.
    """

    def __init__(
        self,
        ctx: ToolContext,
        encoder: SharedEncoder,
        name: str = "synthparts-cnn",
        tagger: Any = None,
        restrict: bool = True,
        refine: RefineSettings | None = DEFAULT_REFINE,
        zoom: bool = True,
        fill: bool = True,
    ):
        self.ctx = ctx
        self.fill = fill
        self.restrict = restrict
        self.refine = refine
        self.zoom = zoom
        self.encoder = encoder
        self.name = name
        self._tagger = tagger
        self._resolved: dict[str, str | None] = {}

    def tag_spans(self, text: str) -> tuple[list[tuple[int, int]], Any]:
        """Character spans PLUM-small's tagger marks in ``text`` (and the token embeddings it read)."""
        if self._tagger is None:
            from mereo.tools.segment.plum import PlumSegmenter

            self._tagger = PlumSegmenter(self.ctx)
        return self._tagger.tag_spans(text)

    def _tag(self, text: str) -> list[str]:
        """The part names the tagger marks in ``text`` (cached per text: the agent sends one
        description per object, and the same object with the same parts gives the same text)."""

        def compute() -> list[str]:
            spans, _ = self.tag_spans(text)
            return [canonical(text[a:b]) for a, b in spans]

        known, _ = self.ctx.cache.get_or_compute(f"tags:{self.name}", text, compute)
        return list(known)

    def labels(self, text: str | None, parts: Sequence[str] | None, object: str | None) -> list[str]:
        """The part names to segment, in order: the tagged spans of ``text``; when ``text`` is
        :func:`~mereo.tools.segment.text.describe` of the ``parts`` (the agent's own description),
        its spans are known and the parts are taken as given."""
        from mereo.tools.segment.text import describe

        if text is not None and not (parts and text == describe(object, parts)):
            return list(dict.fromkeys(self._tag(text)))
        return list(dict.fromkeys(canonical(p) for p in parts or []))

    def resolve(self, label: str) -> str | None:
        """The encoder's part kind for a part name (None when nothing is close enough)."""
        if label in self._resolved:
            return self._resolved[label]
        kinds = self.encoder.part_labels
        out: str | None = label if label in kinds else None
        if out is None and kinds:
            from mereo.text import get_encoder

            vecs = get_encoder().encode([label, *kinds])
            sims = vecs[1:] @ vecs[0]
            best = int(np.argmax(sims))
            out = kinds[best] if sims[best] >= MIN_NAME_SIMILARITY else None
        self._resolved[label] = out
        return out

    def kinds_for(self, labels: list[str], object: str | None) -> dict[str, str]:
        """The part kind each label is segmented as (labels with none are left out).

        A label that is a part kind is that kind. Another label takes its nearest kind
        (:meth:`resolve`) only when no other label names that kind itself, no earlier label took
        it, and, for an object the knowledge base knows, the kind is one of that object's parts:
        so "inner body" does not copy the body's mask, nor "foot" a bed's footboard.
        """
        from mereo.tools.recognize.prompts import known_parts

        exact = {lab for lab in labels if lab in self.encoder.part_labels}
        known = set(known_parts(object)) if object else set()
        out: dict[str, str] = {}
        for lab in labels:
            kind = self.resolve(lab)
            if kind is None or (lab not in exact and (kind in exact or kind in out.values())):
                continue
            if lab not in exact and known and kind not in known:
                continue
            out[lab] = kind
        return out

    def allowed_kinds(self, named: list[str], object: str | None) -> list[int]:
        """Part-kind indices a pixel may take: the named kinds and the object's known parts (from
        the knowledge base), so parts of other categories do not compete."""
        from mereo.tools.recognize.prompts import known_parts

        pool = set(named) | (set(known_parts(object)) if object else set())
        return [1 + i for i, p in enumerate(self.encoder.part_labels) if p in pool]

    def object_region(self, instances: list[Instance], object: str | None) -> np.ndarray | None:
        """``H x W`` bool: the instances the object name fits (None: no instance or no name).

        Every instance whose best name (among the object name and the encoder's categories) is
        the object's counts (two chairs are both "the chair"); when none is, the instance that
        fits the name best.
        """
        if not instances or not object:
            return None
        names = list(dict.fromkeys([object, *self.encoder.category_names]))
        probs = name_scores(self.encoder, torch.stack([i.embedding for i in instances]), names)
        chosen = [i for i, p in zip(instances, probs, strict=True) if int(p.argmax()) == 0]
        if not chosen:
            chosen = [instances[int(probs[:, 0].argmax())]]
        return np.logical_or.reduce([i.mask for i in chosen])

    def prepare(self, images: Sequence[Any], objects: Sequence[tuple[int, str]] = ()) -> None:
        """Encode the question's images in one batched forward before the segment calls read them,
        then the zoomed crops around the named ``objects`` (``(index into images, name)``) in a
        second one."""
        refs = [ImageRef(im) for im in images]
        self.encoder.encode_many(self.ctx, refs)
        crops = []
        for k, name in objects:
            img = refs[k]
            found = self.zoom_crop(img, self.region(img, self.encoder.encode(self.ctx, img), name))
            if found is not None:
                crops.append((img, *found))
        self.encoder.encode_many(
            self.ctx,
            [crop for _, _, crop in crops],
            namespace=self._zoom_namespace,
            notes=[{"image": img.sha256[:12], "zoom": list(box)} for img, box, _ in crops],
        )

    def region(self, image: ImageRef, enc: Encoded, object: str | None) -> np.ndarray | None:
        """``H x W`` bool pixels of the named object (None: no object named, or none found)."""
        if not object:
            return None
        return self.object_region(self.instances(image, enc), object)

    def instances(self, image: ImageRef, enc: Encoded) -> list[Instance]:
        """The image's objects (cached per image: every question about it, and the recognizer,
        reuse them)."""
        return cached_instances(self.ctx, self.encoder, image, enc, refine=self.refine)

    def guide(self, image: ImageRef) -> torch.Tensor:
        """The refinement's colour weights of the image (cached per image)."""
        assert self.refine is not None
        return cached_weights(self.ctx, image, self.refine)

    def kind_masks(
        self,
        image: ImageRef,
        enc: Encoded,
        named: list[str],
        object: str | None,
        region: np.ndarray | None = None,
        zoomed: Zoomed | None = None,
    ) -> dict[str, np.ndarray]:
        """``H x W`` bool mask of each named part kind (before the region is applied).

        With a ``zoomed`` view (by default :meth:`zoomed` of ``region``: with ``zoom`` and
        refinement on, a square crop :data:`ZOOM_MARGIN` of the region's size wider on each side,
        at most :data:`ZOOM_MAX` of the image's shorter side), the part kinds come from the crop's
        encoding, so a small object is seen at the scale of the training scenes' large ones;
        pixels outside the crop get no part.
        """
        allowed = self.allowed_kinds(named, object) if self.restrict else None
        idx = torch.tensor([0, *(allowed if allowed is not None else range(1, enc.part.shape[0]))])
        zoomed = zoomed or self.zoomed(image, region)
        if zoomed is not None:
            (top, left, side), crop, zenc = zoomed
            assert self.refine is not None
            inside = idx[best_class(refine(zenc.part[idx], crop.array, self.refine, self.guide(crop)))]
            kinds = torch.zeros(enc.size, dtype=torch.long)
            kinds[top : top + side, left : left + side] = inside
        elif self.refine is None:
            kinds = part_map(enc, allowed)
        else:
            kinds = idx[best_class(refine(enc.part[idx], image.array, self.refine, self.guide(image)))]
        masks = {k: (kinds == 1 + self.encoder.part_labels.index(k)).numpy() for k in named}
        min_px = max(1, int(MIN_FRACTION * enc.size[0] * enc.size[1]))
        washed = [k for k, m in masks.items() if m.sum() < min_px]
        if self.refine is not None and washed:  # the filter can wash out a part of a few pixels
            coarse = part_map(enc, allowed)  # (an eye): then its mask from the cell map stands
            for k in washed:
                masks[k] = (coarse == 1 + self.encoder.part_labels.index(k)).numpy()
        return masks

    def best_guess(
        self,
        enc: Encoded,
        kind: str,
        named: list[str],
        object: str | None,
        region: np.ndarray,
        zoomed: Zoomed | None = None,
    ) -> tuple[np.ndarray, float] | None:
        """A mask for a named part that no pixel of the object was labelled with (a part a few
        pixels wide loses every pixel to its neighbours): the object's pixels where the part's
        probability (among background and the allowed kinds, cell map upsampled; from the
        ``zoomed`` crop's encoding when there is one) reaches :data:`FILL_SHARE` of its peak on the
        object, when that peak reaches :data:`FILL_MIN`.
        Returns ``(mask, peak)``, or None without enough evidence."""
        allowed = self.allowed_kinds(named, object) if self.restrict else None
        idx = [0, *(allowed if allowed is not None else range(1, enc.part.shape[0]))]
        k = 1 + self.encoder.part_labels.index(kind)
        if k not in idx:
            return None
        src = zoomed[2] if zoomed is not None else enc  # the part kinds were read from the crop
        prob = torch.softmax(src.part[idx], 0)[idx.index(k)]
        up = F.interpolate(prob[None, None], size=src.size, mode="bilinear", align_corners=False)[0, 0]
        if zoomed is not None:
            (top, left, _), _, _ = zoomed
            h, w = src.size
            up = F.pad(up, (left, enc.size[1] - left - w, top, enc.size[0] - top - h))
        inside = torch.from_numpy(region)
        if not bool(inside.any()):
            return None
        peak = float(up[inside].max())
        if peak < FILL_MIN:
            return None
        return (up >= FILL_SHARE * peak).numpy() & region, peak

    @torch.no_grad()
    def segment(
        self,
        image: Any,
        text: str | None = None,
        parts: Sequence[str] | None = None,
        object: str | None = None,
        image_index: int = 0,
    ) -> list[PartMask]:
        """One PartMask per named part the encoder finds on the (named) object, in text order."""
        img = ImageRef(image)
        req = check_request(text, parts, object, image_index)
        t0 = time.perf_counter()
        labels = self.labels(req.text, req.parts, req.object)
        enc = self.encoder.encode(self.ctx, img)
        kinds = self.kinds_for(labels, req.object)
        named = list(dict.fromkeys(kinds.values()))
        first = self.region(img, enc, req.object)
        zoomed = self.zoomed(img, first)  # one crop: the outline and the part kinds are read from it
        region = self.zoomed_region(img, first, zoomed)
        masks = self.kind_masks(img, enc, named, req.object, region, zoomed)
        probs = torch.softmax(enc.part, 0).amax((1, 2))
        out = []
        min_px = max(1, int(MIN_FRACTION * img.height * img.width))
        for label, kind in kinds.items():
            k = 1 + self.encoder.part_labels.index(kind)
            mask = masks[kind].copy()
            score = float(probs[k])
            guessed = False
            if region is not None:
                mask &= region
                if mask.sum() < min_px and self.fill:
                    guess = self.best_guess(enc, kind, named, req.object, region, zoomed)
                    if guess is not None:
                        (mask, score), guessed = guess, True
            if mask.sum() < min_px:
                continue
            out.append(
                part_mask(
                    label,
                    mask,
                    object=req.object,
                    image_index=req.image_index,
                    score=score,
                    source=f"segment:{self.name}",
                    guess=guessed,
                )
            )
        self.ctx.note(
            tool="segment",
            backend=self.name,
            parts=len(labels),
            found=len(out),
            seconds=round(time.perf_counter() - t0, 4),
        )
        return out


def build_shared_segmenter(ctx: ToolContext, arg: str | None) -> SharedEncoderSegmenter:
    """Registry builder:
    ``synthparts-cnn[:/path/to/encoder.safetensors][@all-kinds][@coarse][@no-zoom][@no-fill]``
    (``@all-kinds``: every part kind competes for a pixel; ``@coarse``: no colour-guided
    refinement, the cell maps upsampled bilinearly; ``@no-zoom``: no second encoding of a zoomed
    crop around the named object (``@zoom``, the default, is accepted too); ``@no-fill``: a part
    no pixel was labelled with gets no mask)."""
    path, *modes = (arg or "").split("@")
    unknown = set(modes) - {"all-kinds", "coarse", "zoom", "no-zoom", "no-fill"}
    if unknown or {"zoom", "no-zoom"} <= set(modes):
        raise ValidationError(
            f"unknown or contradictory synthparts-cnn option(s) {', '.join(sorted(unknown or modes))}; "
            "use @all-kinds, @coarse, @no-zoom and/or @no-fill."
        )
    return SharedEncoderSegmenter(
        ctx,
        load_encoder(path or None),
        restrict="all-kinds" not in modes,
        refine=None if "coarse" in modes else DEFAULT_REFINE,
        zoom="no-zoom" not in modes,
        fill="no-fill" not in modes,
    )
