"""Input checks and helpers shared by the segment backends.

Bad input behaves the same in every backend:

- a non-image (or a missing / corrupt file) raises :class:`~mereo.errors.InvalidImageError`;
- no text and no parts (or only blank strings) raises :class:`~mereo.errors.ValidationError`;
- a text longer than :data:`MAX_TEXT_CHARS` characters raises ``ValidationError`` (the span
  tagger reads a description, not a document; pass the sentence that names the parts);
- a text that names no parts returns ``[]``;
- a named part the object does not have (or that is hidden) is left out of the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, field_validator

from mereo.errors import ValidationError
from mereo.knowledge import canonical
from mereo.types import Mask, PartMask

#: Longest description accepted, in characters (about 300 words).
MAX_TEXT_CHARS = 2000
#: Most parts accepted in one call.
MAX_PARTS = 64


class SegmentRequest(BaseModel):
    """The validated arguments of ``Segmenter.segment`` (images are checked by ``ImageRef``)."""

    text: str | None = None
    parts: list[str] | None = Field(default=None, max_length=MAX_PARTS)
    object: str | None = None
    image_index: int = Field(0, ge=0)

    @field_validator("text")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if len(v) > MAX_TEXT_CHARS:
            raise ValueError(
                f"text is {len(v)} characters long; the span tagger reads at most "
                f"{MAX_TEXT_CHARS}. Pass the sentence that names the parts, e.g. "
                "'The chair has a seat, a back and four legs.'"
            )
        return v if v.strip() else None

    @field_validator("parts")
    @classmethod
    def _parts(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        cleaned = [" ".join(p.split()) for p in v if isinstance(p, str) and p.strip()]
        return list(dict.fromkeys(cleaned)) or None


def check_request(text: Any, parts: Any, object: Any, image_index: Any) -> SegmentRequest:
    """Validate the arguments; at least a non-blank text or one part name is required.

    Raises:
        ValidationError: wrong types, blank input, a too-long text, too many parts.
    """
    if isinstance(parts, str):
        parts = [parts]
    try:
        req = SegmentRequest(
            text=text,
            parts=list(parts) if parts is not None else None,
            object=object,
            image_index=image_index,
        )
    except (ValueError, TypeError) as e:
        raise ValidationError(f"bad segment request: {e}") from e
    if req.text is None and not req.parts:
        raise ValidationError(
            "segment needs a text that names parts (e.g. 'The chair has a seat and four "
            "legs.') or a list of part names; both were empty."
        )
    return req


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an ``h x w`` bool mask to ``height x width``."""
    if mask.shape == (height, width):
        return mask.astype(bool)
    from PIL import Image

    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize((width, height), Image.Resampling.NEAREST)) > 127


def mentioned_parts(text: str, vocabulary: Sequence[str]) -> list[str]:
    """Vocabulary part names mentioned (singular or plural, whole words) in ``text``, in text order.

    Mentions right after "no" / "without" / "or" of a negation ("but no wheels") are skipped.
    Used by the ground-truth backends, which have no span tagger.
    """
    from mereo.tools.segment.text import pluralize

    lowered = text.lower()
    negated_zones = [(m.start(), m.end()) for m in re.finditer(r"\b(no|without)\b[^.;:]*", lowered)]
    found: list[tuple[int, str]] = []
    for name in vocabulary:
        forms = {name.lower(), pluralize(name.lower())}
        pattern = r"\b(" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)) + r")\b"
        for m in re.finditer(pattern, lowered):
            if not any(a <= m.start() < b for a, b in negated_zones):
                found.append((m.start(), name))
                break
    return [name for _, name in sorted(found)]


def wanted_parts(req: SegmentRequest, vocabulary: Callable[[], Sequence[str]]) -> list[str]:
    """The part names a request asks for: its ``parts`` (canonical names) when given, otherwise
    the names of ``vocabulary()`` (called only then) that its text mentions, in text order."""
    if req.parts:
        return [canonical(p) for p in req.parts]
    return mentioned_parts(req.text or "", vocabulary())


def part_mask(
    label: str,
    mask: np.ndarray,
    *,
    object: str | None,
    image_index: int,
    score: float,
    source: str,
    guess: bool = False,
) -> PartMask:
    """Build one result entry (``mask`` is ``H x W`` bool in the image's pixels; ``guess``: see
    :class:`~mereo.types.PartMask`)."""
    return PartMask(
        label=label,
        object=object,
        image_index=image_index,
        mask=Mask.from_numpy(mask),
        score=float(min(1.0, max(0.0, score))),
        source=source,
        kind="part",
        guess=guess,
    )
