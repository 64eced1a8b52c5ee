"""Caption templates shared by training and inference of the recogniser.

Object captions name the object, optionally with some of its parts ("a stool with seat, leg");
part captions name a part of an object ("the leg of a stool"). At inference an object's text
embedding is the mean over the object templates (prompt ensembling), optionally plus
descriptions built from the knowledge base's part list of the object, which helps objects whose
names the small model never saw in training (zero-shot from names and their known parts).
"""

from __future__ import annotations

from collections.abc import Sequence

OBJECT_TEMPLATES = ("a {}", "a photo of a {}", "a drawing of a {}", "an image of a {}")
PART_TEMPLATES = ("the {part} of a {obj}", "a {obj}'s {part}", "the {part} of the {obj}")
DESCRIPTION_TEMPLATE = "a {obj} with {parts}"
BACKGROUND_TEXTS = ("background", "a background texture")


def object_prompts(name: str) -> list[str]:
    """Plain object prompts for ``name``."""
    return [t.format(name) for t in OBJECT_TEMPLATES]


def description(obj: str, parts: Sequence[str]) -> str:
    """``"a chair with back, leg, seat"`` (parts joined by commas, up to 4)."""
    return DESCRIPTION_TEMPLATE.format(obj=obj, parts=", ".join(list(parts)[:4]))


def description_prompts(obj: str, parts: Sequence[str]) -> list[str]:
    """A few descriptions of ``obj`` from different subsets of its known parts."""
    parts = sorted(parts)
    if not parts:
        return []
    out = [description(obj, parts)]
    for start in range(1, min(len(parts), 4)):
        out.append(description(obj, parts[start:] + parts[:start]))
    return out


def part_prompt(part: str, obj: str, template: int = 0) -> str:
    return PART_TEMPLATES[template % len(PART_TEMPLATES)].format(part=part, obj=obj)


def known_parts(obj: str) -> list[str]:
    """The knowledge base's parts of ``obj`` (empty when it does not know the object)."""
    try:
        from mereo.knowledge import PartHierarchy

        kb = _kb()
        if kb is None or not kb.has_object(obj):
            return []
        return list(PartHierarchy.parts_of(kb, obj))
    except Exception:  # the knowledge base is optional for recognition
        return []


_KB: list = []


def _kb():
    if not _KB:
        from mereo.knowledge import PartHierarchy

        _KB.append(PartHierarchy.default())
    return _KB[0]
