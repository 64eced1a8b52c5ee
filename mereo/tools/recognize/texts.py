"""Candidate names for recognition: the default vocabulary and the check of user-given texts (no
model imports, so light backends can use them)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from mereo.errors import ValidationError


def default_vocabulary() -> list[str]:
    """The object names ``recognize`` chooses from when no candidates are given: SynthParts' categories."""
    from mereo.data.synthparts import CATEGORIES

    return list(CATEGORIES)


class TextList(BaseModel):
    """Candidate names or texts: non-empty strings."""

    texts: list[str] = Field(min_length=1)


def _check_texts(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, str):
        raise ValidationError(f"{what} must be a list of strings, not one string ({texts!r}).")
    try:
        checked = TextList(texts=list(texts)).texts
    except Exception as e:
        raise ValidationError(f"{what} must be a non-empty list of strings: {e}") from e
    cleaned = [t.strip() for t in checked]
    if any(not t for t in cleaned):
        raise ValidationError(f"{what} contains an empty string.")
    return cleaned
