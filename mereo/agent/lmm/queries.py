"""The offline planner's reading of yes/no, count and which-object questions.

- "Does the bird have a beak?" -> ``exists`` (``all``); "Do the mug and the kettle both have
  handles?" (``all``), "Does either the mug or the kettle have a spout?" / "Does the mug or the
  kettle have a spout?" (``any``), "Do neither the mug nor the kettle have a spout?" (``none``);
- "How many legs does the stool have?" -> ``count``;
- "Which object has a spout, the mug in image 1 or the kettle in image 2?" -> ``which`` among
  the named candidates ("Which object in image 2 has a spout?" stays part-to-whole, limited to
  image 2, and is read by the planner's part-to-whole rule).

Each reader returns ``None`` when the question is not of its kind, so the planner falls through
to its set-expression reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from mereo.errors import QuestionError
from mereo.knowledge import ground

_ARTICLE = r"(?:a|an|the|any|some)\s+"
_HAVE = r"\b(?:have|has|had|got)\b"


class _Mentions(Protocol):
    def _mentions(self, toks: list[str], n: int, notes: list[str]) -> list[Any]: ...


@dataclass
class Query:
    """A read question: its expression, what it returns, and notes on how phrases were grounded."""

    expr: dict[str, Any]
    returns: str
    mentions: list[Any]
    notes: list[str] = field(default_factory=list)


def _part(phrase: str, question: str, notes: list[str]) -> str:
    phrase = re.sub(r"^(?:a|an|the|any|some)\s+", "", phrase.strip())
    g = ground(phrase, "part")
    if g is None:
        raise QuestionError(
            f"could not ground the part '{phrase}' of '{question}' in the knowledge base's part names; "
            "try a common part name (leg, wheel, handle, ...)."
        )
    if g.rule not in ("exact", "lemma"):
        notes.append(f"part '{phrase}' read as '{g.term}' ({g.rule})")
    return g.term


def _leaf(m: Any, n: int) -> dict[str, Any]:
    image = m.image if m.image is not None else (0 if n == 1 else None)
    return {"op": "parts", "object": m.name, "image": image}


def _outside(mentions: list[Any], toks: list[str], m: re.Match[str], unnamed: str) -> list[Any]:
    """Named mentions that are not the part phrase itself ("a bowl", "a mirror" name parts here)."""
    lo, hi = m.span("pp")
    out = []
    for x in mentions:
        start = len(" ".join(toks[: x.start])) + (1 if x.start else 0)
        if x.name != unnamed and not lo <= start < hi:
            out.append(x)
    return out


def read_query(planner: _Mentions, question: str, toks: list[str], n: int, unnamed: str) -> Query | None:
    """Read ``toks`` (the planner's tokens) as a yes/no, count or which question, or ``None``.

    Raises:
        QuestionError: it is such a question, but its part or objects cannot be grounded.
    """
    text = " ".join(toks)
    notes: list[str] = []
    m = re.match(r"^how many (?P<p>[a-z][a-z' -]*?) (?:does|do|did|has|have|can|are|is)\b", text)
    if m:
        mentions = [x for x in planner._mentions(toks, n, notes) if x.name != unnamed]
        if len(mentions) != 1:
            raise QuestionError(
                f"'{question}' asks for a count; name one object whose parts to count, e.g. "
                "'How many legs does the stool have?'."
            )
        part = _part(m.group("p"), question, notes)
        count: dict[str, Any] = {"op": "count", "part": part, "of": _leaf(mentions[0], n)}
        return Query(count, "count", mentions, notes)
    m = re.match(
        rf"^(?:does|do|did)\b(?P<who>.*?){_HAVE}\s+(?P<pp>(?:{_ARTICLE})?(?P<p>[a-z][a-z' -]*?))\s*"
        r"(?:(?:in|on) <img\d*>\s*)?[?.!]?$",
        text,
    )
    if m and not re.search(r"\bparts?\b", m.group("p")):
        mentions = _outside(planner._mentions(toks, n, notes), toks, m, unnamed)
        if not mentions:
            return None
        who = m.group("who")
        quantifier = (
            "none"
            if re.search(r"\bneither\b|\bnor\b", who)
            else "any"
            if re.search(r"\beither\b|\bor\b|\bat least one\b|\bany of\b", who)
            else "all"
        )
        part = _part(m.group("p"), question, notes)
        expr: dict[str, Any] = {
            "op": "exists",
            "part": part,
            "of": [_leaf(x, n) for x in mentions],
            "quantifier": quantifier,
        }
        return Query(expr, "yes_no", mentions, notes)
    m = re.match(
        rf"^which (?:one|object|of (?:them|these|the objects))?\s*{_HAVE}\s+"
        rf"(?P<pp>(?:{_ARTICLE})?(?P<p>[a-z][a-z' -]*?))\s*[,:;-]",
        text,
    )
    if m:
        mentions = _outside(planner._mentions(toks, n, notes), toks, m, unnamed)
        if len(mentions) < 2 or not re.search(r"\bor\b", text):
            return None
        part = _part(m.group("p"), question, notes)
        which: dict[str, Any] = {"op": "which", "part": part, "candidates": [_leaf(x, n) for x in mentions]}
        return Query(which, "objects", mentions, notes)
    return None
