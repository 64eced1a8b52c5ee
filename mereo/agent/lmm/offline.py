"""``offline``: a deterministic planner grounded in the knowledge base (no network, no LMM).

It reads a question as a sequence of object mentions ("the chair in image 1", "a stool") joined
by words that say how their part sets combine, and folds them left to right:

- mentions joined only by "and" / "or" / "nor" form a group: "the b and the c" (intersect; union
  after "at least one of" / "either", or when the group is negated), "the b or the c" (union);
- a group is subtracted when a negation follows it ("... lacks", "does not have") or precedes it
  ("missing from ...", "neither ... nor ...");
- "each ... the other lacks", "unique parts", "only the a or only the b": symmetric difference;
- yes/no ("does the bird have a beak?"), count ("how many legs ...") and which-of-these questions
  ("which object has a spout, the mug ... or the kettle ...?"): :mod:`mereo.agent.lmm.queries`;
- "which object has a propeller": part-to-whole; "what is the object and its parts": whole-to-part;
  "which objects appear in both": common objects; "those" / "them" on a thread: the last answer.

Object phrases are grounded in the knowledge base (lemma, synonym, head noun; MiniLM for
unknown words), part phrases likewise. A question it cannot read raises a
:class:`~mereo.errors.QuestionError` that says so: it never guesses silently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mereo.agent.lmm.base import check_length
from mereo.agent.lmm.queries import read_query
from mereo.errors import QuestionError, UnknownObjectError, excerpt
from mereo.knowledge import PartHierarchy, canonical, ground
from mereo.plan import Plan, PlanObject, parse_plan
from mereo.types import ImageRef

_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "1st": 0, "2nd": 1, "3rd": 2}
_NEG = re.compile(r"\black(?:s|ing)?\b|\bnot\b|n't\b|\bwithout\b|\bmissing\b|\babsent\b|\bneither\b|\bnor\b")
#: A negation at the end of a segment that belongs to the mention after it.
_NEG_BEFORE = re.compile(r"(?:\b(?:missing|absent|lacking) from|\bneither|\bnor|\bnot (?:on|in|from))\s*$")
_FILLER = {"the", "a", "an", "on", "in", "of", "from", ",", "to"}
_PARTS_WORDS = re.compile(
    r"\b(?:parts?|have|has|had|share[sd]?|sharing|common|lacks?|missing|find|found|appear|"
    r"segment|list|name|identify|visible|see|belong|does|do)\b"
)
_SINGLE_IMAGE = re.compile(r"\b(?:in|on) (?:the|this) (?:image|picture|photo)\b|\bhere\b|\bshown\b")
#: Phrases after a determiner that are never object mentions.
_NOT_OBJECTS = {
    "image",
    "picture",
    "photo",
    "object",
    "objects",
    "other",
    "parts",
    "part",
    "common",
    "unique",
    "visible",
    "same",
    "answer",
    "one",
    "least",
    "earlier",
}


#: The name of a mention of the unnamed object ("the object in the image").
UNNAMED = "<object>"
_STOP = {
    "the",
    "a",
    "an",
    "and",
    "or",
    "nor",
    "of",
    "in",
    "on",
    "parts",
    "part",
    "which",
    "what",
    "does",
    "do",
    "has",
    "have",
    "both",
    "each",
    "only",
    "not",
    "that",
    "with",
    "by",
    "to",
    "is",
    "are",
}


@dataclass
class Mention:
    """One object mention: its canonical name, image (None: not said), and token span."""

    name: str
    image: int | None
    definite: bool
    start: int
    end: int
    note: str = ""


@dataclass
class Group:
    """Mentions joined only by conjunctions; ``combine`` is ``intersect`` or ``union``."""

    members: list[Any]
    combine: str = "intersect"
    negated: bool = False
    notes: list[str] = field(default_factory=list)


def _tokens(question: str) -> list[str]:
    """Lower-case tokens; image references become ``<imgK>`` (0-based) or ``<img>`` (the only image)."""
    t = question.lower().replace("\u2019", "'")
    t = re.sub(
        r"\(\s*image\s*(\d+)\s*\)|\bimage\s*#?\s*(\d+)\b|\bimg\s*(\d+)\b",
        lambda m: f" <img{int(next(g for g in m.groups() if g)) - 1}> ",
        t,
    )
    t = re.sub(
        r"\bthe (first|second|third|fourth|1st|2nd|3rd) (?:image|picture|photo)\b",
        lambda m: f" <img{_ORDINALS[m.group(1)]}> ",
        t,
    )
    t = _SINGLE_IMAGE.sub(" <img> ", t)
    # MixedParts: "the objects in (IMAGE1) and (IMAGE2)" = one unnamed object per image
    t = re.sub(
        r"\bthe objects\s+(?:in|from|of)\s+(<img\d+>)\s+and\s+(?:(?:in|of)\s+)?(<img\d+>)",
        r"the object in \1 and the object in \2",
        t,
    )
    t = re.sub(r"([,;?!.()])", r" \1 ", t)
    return [w for w in t.split() if w not in ("(", ")")]


class OfflinePlanner:
    """The default planner: deterministic, knowledge-grounded, no network.

    Args:
        kb: the knowledge base (the bundled one by default).
    """

    name = "offline"

    def __init__(self, kb: PartHierarchy | None = None):
        self.kb = kb or PartHierarchy.default()
        self._objects = set(self.kb.object_vocabulary())

    # -- LMM interface ----------------------------------------------------------------------------
    def plan(self, question: str, images: Sequence[ImageRef], history: Sequence[dict[str, Any]] = ()) -> Plan:
        """Parse ``question`` into a plan (see the module docstring).

        Raises:
            QuestionError: the question cannot be parsed, or names an object no rule can ground.
        """
        n = len(images)
        toks = _tokens(question)
        check_length(question, len(toks))
        text = " ".join(toks)
        query = read_query(self, question, toks, n, UNNAMED)
        if query is not None:
            leaves = [query.expr["of"]] if query.expr["op"] == "count" else []
            leaves += query.expr.get("of", []) if query.expr["op"] == "exists" else []
            leaves += query.expr.get("candidates", [])
            objects = [
                PlanObject(
                    name=leaf["object"], image=leaf["image"], description=self._describe(leaf["object"])
                )
                for leaf in leaves
            ]
            query_notes = [m.note for m in query.mentions if m.note] + query.notes
            return self._make(question, query.expr, query.returns, objects, query_notes)
        if not _PARTS_WORDS.search(text):
            raise self._unparsed(question, "it does not ask about parts or objects")
        notes: list[str] = []
        refs = sorted({int(m) for m in re.findall(r"<img(\d+)>", text)})
        mentions = self._mentions(toks, n, notes)
        named = [m for m in mentions if m.name != UNNAMED]
        one_object = re.search(r"\bobject\b", text) and not re.search(r"\bobjects\b", text)
        if one_object and not (named and re.search(r"\bparts?\b", text)):
            plan = self._about_one_object(question, toks, text, refs, n)
            if plan is not None:
                return plan
        if (
            not mentions
            and re.search(r"\bobjects\b", text)
            and re.search(r"\b(both|common|every|all|each)\b", text)
        ):
            imgs = refs or list(range(n))
            if len(imgs) < 2:
                raise QuestionError(
                    f"{excerpt(question)} asks for objects common to several images, but only "
                    f"{n} image was given; pass at least two images."
                )
            return self._make(question, {"op": "common_objects", "images": imgs}, "objects", [], notes)
        anaphora = re.search(r"\b(those|these|them)\b", text)
        if anaphora and not history:
            raise QuestionError(
                f"{excerpt(question)} refers to an earlier answer ('{anaphora.group(1)}'), but there is "
                "none on this thread; ask the earlier question first with the same thread=..."
            )
        previous = history[-1]["labels"] if history and anaphora else None
        if not mentions:
            raise self._unparsed(question, "it names no object the knowledge base knows")
        expr = self._compose(toks, mentions, previous, notes)
        objects = [
            PlanObject(name=None, image=m.image)
            if m.name == UNNAMED
            else PlanObject(name=m.name, image=m.image, description=self._describe(m.name))
            for m in mentions
            if m.definite
        ]
        return self._make(question, expr, "parts", objects, notes)

    def propose_parts(self, obj: str, images: Sequence[ImageRef] = ()) -> list[str]:
        """Parts of the nearest known object (MiniLM); the offline planner cannot invent new ones.

        Raises:
            UnknownObjectError: nothing in the knowledge base is close enough.
        """
        g = ground(obj, "object", threshold=0.6)
        if g is None:
            raise UnknownObjectError(
                self.kb.unknown_object_message(obj) + " The offline planner cannot "
                "propose parts for it; use a hosted LMM (lmm='openai:<model>')."
            )
        return self.kb.parts_of(g.term)

    # -- parsing ---------------------------------------------------------------------------------
    @staticmethod
    def _unparsed(question: str, why: str) -> QuestionError:
        return QuestionError(
            f"the offline planner could not parse {excerpt(question)}: {why}. It reads questions such as "
            "'Which parts do the chair in image 1 and the stool in image 2 share?', 'What visible parts "
            "does the chair in the image have that a stool lacks?' or 'Which object in the image has a "
            "wheel?'. Rephrase, or use a hosted LMM (lmm='openai:<model>')."
        )

    def _make(
        self, question: str, expr: dict[str, Any], returns: str, objects: list[PlanObject], notes: list[str]
    ) -> Plan:
        return parse_plan(
            {
                "question": question,
                "expr": expr,
                "returns": returns,
                "objects": [o.model_dump() for o in objects],
                "notes": notes,
            }
        )

    def _about_one_object(
        self, question: str, toks: list[str], text: str, refs: list[int], n: int
    ) -> Plan | None:
        """Whole-to-part ("what is the object ... its parts") or part-to-whole ("which object has a X")."""
        imgs = refs or ([0] if n == 1 else list(range(n)))
        if re.search(r"\bparts?\b", text) and re.search(r"\b(what|which|identify|name)\b", text):
            if len(imgs) != 1 and len(re.findall(r"\bobject <img\d+>|\bobject in <img\d+>", text)) >= 2:
                return None  # one unnamed object per image: composed like named ones
            if len(imgs) != 1:
                raise QuestionError(
                    f"{excerpt(question)} asks about the object in one image; say which (e.g. "
                    "'in image 2') or pass one image."
                )
            return self._make(
                question,
                {"op": "whole_to_part", "image": imgs[0]},
                "parts",
                [PlanObject(name=None, image=imgs[0])],
                [],
            )
        m = re.search(r"\bdoes (?:the|a|an) (?P<p>[a-z][a-z' -]*?) belong to\b", text) or re.search(
            r"\b(?:has|have|with|having|contains?) (?:a |an |the |some )?(?P<p>[a-z][a-z' -]*?)"
            r"(?: (?:<img\d*>|in|on|here|shown|\?|\.|!|,)|$)",
            text,
        )
        if m is None:
            return None
        phrase = m.group("p").strip()
        g = ground(phrase, "part")
        if g is None:
            raise QuestionError(
                f"could not ground the part {excerpt(phrase)} of {excerpt(question)} in the knowledge base's "
                "part names; try a common part name (leg, wheel, handle, ...)."
            )
        notes = [] if g.rule in ("exact", "lemma") else [f"part '{phrase}' read as '{g.term}' ({g.rule})"]
        return self._make(
            question, {"op": "part_to_whole", "part": g.term, "images": imgs}, "objects", [], notes
        )

    def _mentions(self, toks: list[str], n: int, notes: list[str]) -> list[Mention]:
        """Object mentions after a determiner, with the image reference that follows them."""
        out: list[Mention] = []
        i = 0
        while i < len(toks):
            if toks[i] not in ("the", "a", "an"):
                i += 1
                continue
            found = self._object_at(toks, i + 1)
            if found is None:
                i += 1
                continue
            name, length, note = found
            end = i + 1 + length
            image, end = self._image_after(toks, end, n)
            if note:
                notes.append(note)
            out.append(Mention(name, image, toks[i] == "the", i, end, note))
            i = end
        definite = [m for m in out if m.definite and m.image is None]
        used = {m.image for m in out if m.image is not None}
        free = [k for k in range(n) if k not in used]
        if "<img>" in toks and not used:
            free = [0]  # "in the image" / "here": the question is about one image
        if definite and len(definite) == len(free):
            for m, k in zip(definite, free, strict=True):
                m.image = k
        for m in out:
            if m.definite is False and m.image is not None:
                m.definite = True  # "a chair in image 2" is shown
        return out

    def _object_at(self, toks: list[str], j: int) -> tuple[str, int, str] | None:
        """The known object named at token ``j`` (1-3 words, longest first), or an unknown noun
        followed by an image reference (grounded with MiniLM, else kept for an LMM part proposal)."""
        if toks[j : j + 1] == ["object"] and toks[j - 1] == "the":
            return UNNAMED, 1, ""  # "the object in the image": recognised, then its parts
        for length in (3, 2, 1):
            words = toks[j : j + length]
            if len(words) < length or any(w.startswith("<") or not w[0].isalpha() for w in words):
                continue
            c = canonical(" ".join(words))
            if c in self._objects:
                return c, length, ""
        for length in (2, 1):
            words = toks[j : j + length]
            after = [a for a in toks[j + length : j + length + 2] if a not in ("in", "on", "from")][:1]
            if (
                len(words) == length
                and all(w.isalpha() and w not in _STOP for w in words)
                and words[-1] not in _NOT_OBJECTS
                and after
                and after[0].startswith("<img")
            ):
                phrase = " ".join(words)
                g = ground(phrase, "object")
                if g is not None:
                    return g.term, length, f"object '{phrase}' read as '{g.term}' ({g.rule})"
                return (
                    canonical(phrase),
                    length,
                    f"'{phrase}' is not in the knowledge base; its parts are proposed",
                )
        return None

    @staticmethod
    def _image_after(toks: list[str], k: int, n: int) -> tuple[int | None, int]:
        j = k
        while j < len(toks) and toks[j] in ("in", "on", "from", "of", ",") and j - k < 2:
            j += 1
        if j < len(toks) and toks[j].startswith("<img"):
            idx = toks[j][4:-1]
            return (int(idx) if idx else 0), j + 1
        return None, k

    def _compose(
        self, toks: list[str], mentions: list[Mention], previous: list[str] | None, notes: list[str]
    ) -> dict[str, Any]:
        text = " ".join(toks)
        leaves = [self._leaf(m) for m in mentions]
        if (
            len(mentions) == 2
            and previous is None
            and re.search(
                r"\beach\b.*\bother\b|\bunique\b|\bonly (?:the|a|an)\b.*\bor only\b|\bexclusive", text
            )
        ):
            return {"op": "symmetric_difference", "args": leaves}
        groups = self._groups(toks, mentions, leaves)
        if previous is not None:
            notes.append(f"'those' read as the previous answer: {', '.join(previous)}")
            groups.insert(0, Group([{"op": "labels", "labels": list(previous)}]))
        value = self._group_expr(groups[0])
        for g in groups[1:]:
            value = {"op": "difference" if g.negated else "intersect", "args": [value, self._group_expr(g)]}
        return value

    @staticmethod
    def _leaf(m: Mention) -> dict[str, Any]:
        if m.name == UNNAMED:
            return {"op": "whole_to_part", "image": m.image or 0}
        if m.definite:
            return {"op": "parts", "object": m.name, "image": m.image}
        return {"op": "kb_parts", "object": m.name}

    def _groups(self, toks: list[str], mentions: list[Mention], leaves: list[dict[str, Any]]) -> list[Group]:
        segs = [" ".join(toks[(mentions[i - 1].end if i else 0) : m.start]) for i, m in enumerate(mentions)]
        segs.append(" ".join(toks[mentions[-1].end :]))  # segs[i]: before mention i; segs[-1]: the tail
        groups: list[Group] = []
        for i, leaf in enumerate(leaves):
            seg = segs[i]
            words = [w for w in seg.split() if w not in _FILLER]
            joined = i > 0 and words and set(words) <= {"and", "or", "nor"}
            if joined:
                groups[-1].members.append(leaf)
                if "or" in words or "nor" in words:
                    groups[-1].combine = "union"
            else:
                g = Group([leaf])
                if re.search(r"\bat least one of\s*(?:the|a|an)?\s*$|\beither\s*(?:the|a|an)?\s*$", seg):
                    g.combine = "union"
                if i > 0 and _NEG_BEFORE.search(seg):
                    g.negated = True
                groups.append(g)
            after = segs[i + 1]
            if i + 1 < len(mentions):
                after = _NEG_BEFORE.sub("", after)  # that negation belongs to the next mention
            nxt_words = [w for w in after.split() if w not in _FILLER]
            last_in_group = i + 1 == len(mentions) or not (
                nxt_words and set(nxt_words) <= {"and", "or", "nor"}
            )
            if last_in_group and len(groups) > 1 and _NEG.search(after):
                groups[-1].negated = True
        for g in groups[1:]:
            if g.negated and len(g.members) > 1:
                g.combine = "union"  # "lacked by both b and c" = not in b and not in c
        return groups

    @staticmethod
    def _group_expr(g: Group) -> dict[str, Any]:
        if len(g.members) == 1:
            return g.members[0]
        value = g.members[0]
        for m in g.members[1:]:
            value = {"op": g.combine, "args": [value, m]}
        return value

    def _describe(self, obj: str) -> str | None:
        from mereo.tools.segment.text import describe

        return describe(obj, self.kb.parts_of(obj)) if self.kb.has_object(obj) else None
