"""What the set-expression interpreter (:mod:`mereo.agent.compose`) reads and returns: the tools'
evidence (:class:`Evidence`), the value of an expression (:class:`LabelSet`), the answer set with
its notes (:class:`Result`), and the best-guess fallback of questions that presuppose a part."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mereo.types import Mask, PartMask

#: ``(image_index, object, label)``: one part of one object in one image.
PartKey = tuple[int, str, str]


@dataclass
class Evidence:
    """What the tools found, in the form the interpreter reads.

    Attributes:
        parts: ``(image_index, object)`` -> that object's part masks in that image.
        objects: image index -> object masks (``kind="object"``) found in the image.
        kb_parts: object name -> the knowledge base's part names.
        normalize: part or object name -> canonical name.
        similarity: ``(key_a, key_b)`` -> cosine similarity of two parts' features, both key
            orders stored; empty when no correspondence backend ran.
        threshold: similarity at or above which features agree.
        mutual: part pairs that are each other's best match (from the corresponder); when set,
            only these are reported as renamed matches.
        absent: ``(image_index, object)`` pairs that verification found not to be in the image.
        doubtful: ``(image_index, object)`` -> best-guess part masks verification dropped, their
            ``score`` the guess model's chance that the part is there; read only when a question
            presupposes a part no object kept (:func:`best_doubtful`).
    """

    parts: dict[tuple[int, str], list[PartMask]] = field(default_factory=dict)
    objects: dict[int, list[PartMask]] = field(default_factory=dict)
    kb_parts: Callable[[str], list[str]] = lambda _o: []
    normalize: Callable[[str], str] = lambda s: s.strip().lower()
    similarity: dict[tuple[PartKey, PartKey], float] = field(default_factory=dict)
    threshold: float = 0.5
    mutual: set[tuple[PartKey, PartKey]] | None = None
    absent: set[tuple[int, str]] = field(default_factory=set)
    doubtful: dict[tuple[int, str], list[PartMask]] = field(default_factory=dict)

    def object_names(self, image: int) -> list[str]:
        """Objects known in ``image`` (recognised, or segmented), in a stable order."""
        names = [self.normalize(o.label) for o in self.objects.get(image, [])]
        names += [obj for (img, obj) in self.parts if img == image]
        return list(dict.fromkeys(names))

    def object_mask(self, image: int, name: str) -> PartMask | None:
        """The object's mask in ``image``: recognised, else the union of its part masks."""
        for o in self.objects.get(image, []):
            if self.normalize(o.label) == name:
                return o
        parts = self.parts.get((image, name), [])
        if not parts:
            return None
        merged = Mask.union([p.mask for p in parts])
        return PartMask(
            label=name,
            object=name,
            image_index=image,
            mask=merged,
            kind="object",
            score=min(p.score for p in parts),
            source=parts[0].source,
        )


@dataclass
class LabelSet:
    """The value of an expression: label -> masks (possibly none, for knowledge-base parts)."""

    masks: dict[str, list[PartMask]] = field(default_factory=dict)
    kind: str = "parts"

    @property
    def labels(self) -> list[str]:
        return sorted(self.masks)

    def all_masks(self) -> list[PartMask]:
        return [m for label in self.labels for m in self.masks[label]]


@dataclass
class Result:
    """The answer set plus the interpreter's notes (e.g. features that disagree).

    Attributes:
        scalar: the yes/no (``exists``) or the count (``count``); ``None`` for set answers, and
            when an object the answer depends on was not found.
        per_object: for ``exists`` / ``which``: object name -> True / False / None (not found).
        caveats: sentences the answer text must carry (an object given as a best guess).
    """

    value: LabelSet
    notes: list[str] = field(default_factory=list)
    renamed_matches: list[dict[str, Any]] = field(default_factory=list)
    scalar: bool | int | None = None
    per_object: dict[str, bool | None] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)


def best_doubtful(part: str, keys: list[tuple[int, str]], ev: Evidence) -> tuple[int, str, float] | None:
    """``(image, object, chance)`` of the likeliest dropped best guess of ``part`` among the objects
    ``keys`` (None: none was guessed). A question that presupposes the part ("which object has a
    mirror?") answers with it when no object kept the part, saying it is a best guess."""
    found = [
        (float(pm.score), img, name)
        for img, name in keys
        if (img, name) not in ev.absent
        for pm in ev.doubtful.get((img, name), [])
        if ev.normalize(pm.label) == part
    ]
    if not found:
        return None
    chance, img, name = max(found)
    return img, name, chance


def guess_note(part: str, name: str, img: int, chance: float) -> str:
    """The caveat of an answer given by :func:`best_doubtful`."""
    return (
        f"No object showed a clear {part}; the {name} in image {img + 1} is a best guess "
        f"(a faint {part} on it, chance {chance:.2f})."
    )
