"""Description texts for the span tagger: the agent's ``describe()`` and the training generator.

A description names an object's parts ("The chair has a seat, a back and four legs."). The span
tagger marks the part-name spans with B/I/O tags over MiniLM word pieces; every span becomes one
mask query. Training texts vary the phrasing, use plurals and counts, add distractor words and
sentences, and name parts the object lacks: positively listed ones are spans whose gold mask is
empty, negated ones ("but no wheels") are not spans at all.

Spans here are character ranges ``(start, end)`` into the text, end exclusive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_IRREGULAR = {
    "foot": "feet",
    "tooth": "teeth",
    "leaf": "leaves",
    "knife": "knives",
    "shelf": "shelves",
    "mouse": "mice",
    "person": "people",
    "calf": "calves",
    "hoof": "hooves",
    "half": "halves",
}
_NUMBERS = ["two", "three", "four", "five", "six"]
_ADJECTIVES = [
    "small",
    "large",
    "red",
    "blue",
    "dark",
    "bright",
    "round",
    "long",
    "short",
    "wooden",
    "metal",
    "curved",
    "thin",
    "wide",
    "green",
    "grey",
]
_FILLERS = [
    "The picture is rather bright.",
    "It stands on a plain background.",
    "The photo was taken from the side.",
    "Nothing else is in the frame.",
    "The colours are quite saturated.",
    "It looks fairly new.",
]


def pluralize(noun: str) -> str:
    """English plural of a (possibly multi-word) part name: ``"leg" -> "legs"``, ``"foot" -> "feet"``."""
    words = noun.split()
    if not words:
        return noun
    last = words[-1]
    if last in _IRREGULAR:
        plural = _IRREGULAR[last]
    elif re.search(r"(s|x|z|ch|sh)$", last):
        plural = last + "es"
    elif re.search(r"[^aeiou]y$", last):
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return " ".join([*words[:-1], plural])


def _article(noun: str) -> str:
    return "an" if noun[:1] in "aeiou" else "a"


def _join(items: Sequence[str], style: int = 0) -> str:
    if len(items) == 1:
        return items[0]
    if style == 1 and len(items) > 2:
        return ", ".join(items[:-1]) + ", and " + items[-1]
    if style == 2:
        return "; ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def describe(object: str | None, parts: Sequence[str]) -> str:
    """The plain description the agent sends to the span tagger.

    Args:
        object: the object name (``"chair"``), or None for "the object".
        parts: singular part names, in the order the masks should come back.

    Returns:
        e.g. ``"The chair has a seat, a back and a leg."``; with no parts
        ``"The chair has no visible parts."`` (which has no spans).

    Example:
        >>> describe("chair", ["seat", "back", "leg"])
        'The chair has a seat, a back and a leg.'
    """
    obj = (object or "object").strip() or "object"
    names = [" ".join(p.split()) for p in parts if p and p.strip()]
    names = list(dict.fromkeys(names))
    if not names:
        return f"The {obj} has no visible parts."
    return f"The {obj} has {_join([f'{_article(p)} {p}' for p in names])}."


@dataclass
class Description:
    """A generated description with its gold spans.

    Attributes:
        text: the description.
        spans: ``(start, end, label)`` character spans of the part names to segment, in text order.
        object: the object it describes.
    """

    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    object: str = ""


class _Builder:
    """Appends text pieces and records the character spans of part names."""

    def __init__(self) -> None:
        self.text = ""
        self.spans: list[tuple[int, int, str]] = []

    def add(self, piece: str) -> None:
        self.text += piece

    def part(self, surface: str, label: str, tagged: bool = True) -> None:
        start = len(self.text)
        self.text += surface
        if tagged:
            self.spans.append((start, len(self.text), label))


def _mention(b: _Builder, label: str, rng: np.random.Generator, tagged: bool = True) -> None:
    """One list item: optional determiner / count / adjective, then the part name."""
    r = rng.random()
    adjective = f"{_ADJECTIVES[rng.integers(len(_ADJECTIVES))]} " if rng.random() < 0.2 else ""
    if r < 0.35:
        head = adjective or label
        b.add(f"{_article(head)} {adjective}")
        b.part(label, label, tagged)
    elif r < 0.55:
        b.add(f"the {adjective}")
        b.part(label, label, tagged)
    elif r < 0.75:
        b.add(f"{_NUMBERS[rng.integers(len(_NUMBERS))]} {adjective}")
        b.part(pluralize(label), label, tagged)
    elif r < 0.9:
        b.add(adjective)
        b.part(pluralize(label), label, tagged)
    else:
        b.add(f"its {adjective}")
        b.part(label, label, tagged)


def _list(b: _Builder, labels: Sequence[str], rng: np.random.Generator) -> None:
    style = int(rng.integers(3))
    for i, label in enumerate(labels):
        if i:
            last = i == len(labels) - 1
            if style == 2:
                b.add("; ")
            elif last:
                b.add(", and " if style == 1 and len(labels) > 2 else " and ")
            else:
                b.add(", ")
        _mention(b, label, rng)


def generate_description(
    object: str,
    parts: Sequence[str],
    rng: np.random.Generator,
    lacking: Sequence[str] = (),
    p_negated: float = 0.3,
) -> Description:
    """A varied description of ``object`` with spans on every listed part name.

    Args:
        object: the object name.
        parts: part names to list (their spans get the part's mask).
        rng: the numpy generator (seeded by the caller).
        lacking: part names the object does not have; each is either listed like the others
            (a span whose gold mask is empty) or negated ("but no wheels", no span).
        p_negated: probability that a lacking part is negated rather than listed.

    Returns:
        The text and its gold spans (labels are the given singular names).
    """
    listed = list(parts)
    negated: list[str] = []
    for name in lacking:
        (negated if rng.random() < p_negated else listed).append(name)
    order = rng.permutation(len(listed))
    listed = [listed[i] for i in order]
    b = _Builder()
    if rng.random() < 0.15:
        b.add(_FILLERS[rng.integers(len(_FILLERS))] + " ")
    if not listed:
        b.add(f"The {object} shows no recognisable parts.")
    else:
        template = int(rng.integers(7))
        if template == 0:
            b.add(f"The {object} has ")
            _list(b, listed, rng)
        elif template == 1:
            b.add(f"This {object} has ")
            _list(b, listed, rng)
        elif template == 2:
            b.add("I can see ")
            _list(b, listed, rng)
            b.add(f" on the {object}")
        elif template == 3:
            b.add(f"Visible parts of the {object}: ")
            _list(b, listed, rng)
        elif template == 4:
            b.add(f"The {object} in the image has the following visible parts: ")
            _list(b, listed, rng)
        elif template == 5:
            b.add(f"It is {_article(object)} {object} with ")
            _list(b, listed, rng)
        else:
            b.add(f"Looking at the {object}, there are ")
            _list(b, listed, rng)
    if negated:
        b.add(", but no " if rng.random() < 0.5 else ". It has no ")
        for i, name in enumerate(negated):
            if i:
                b.add(" or ")
            b.part(pluralize(name) if rng.random() < 0.5 else name, name, tagged=False)
    b.add(".")
    if rng.random() < 0.15:
        b.add(" " + _FILLERS[rng.integers(len(_FILLERS))])
    return Description(text=b.text, spans=b.spans, object=object)


def describe_spans(object: str | None, parts: Sequence[str]) -> Description:
    """:func:`describe` with the character spans of its part names (same text)."""
    obj = (object or "object").strip() or "object"
    names = list(dict.fromkeys(" ".join(p.split()) for p in parts if p and p.strip()))
    if not names:
        return Description(text=describe(object, parts), spans=[], object=obj)
    b = _Builder()
    b.add(f"The {obj} has ")
    for i, name in enumerate(names):
        if i:
            b.add(" and " if i == len(names) - 1 else ", ")
        b.add(f"{_article(name)} ")
        b.part(name, name)
    b.add(".")
    return Description(text=b.text, spans=b.spans, object=obj)
