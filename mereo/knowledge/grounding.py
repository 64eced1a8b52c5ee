"""Ground free-text object and part phrases in the knowledge base's vocabulary.

Rules are tried in order and the first that matches wins:

1. ``exact``: the phrase is a vocabulary term (ignoring case and outer spaces);
2. ``lemma``: its normalised form is (``"Legs" -> "leg"``);
3. ``synonym``: a synonym of it is (``"tyres" -> "tire"``, ``"aeroplane" -> "airplane"``);
4. ``head``: its head noun or a trailing compound is (``"chair leg" -> "leg"``,
   ``"legs of the chair" -> "leg"``, ``"office chair" -> "chair"``), or the end of a closed
   compound is (``"doorknob" -> "knob"``, ``"teacup" -> "cup"``; both halves at least 3 letters);
5. ``embedding``: the nearest term by MiniLM sentence-embedding cosine similarity, when at least
   ``threshold`` (vocabulary embeddings are computed once per vocabulary and cached).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from mereo.errors import ValidationError
from mereo.knowledge.lexicon import broader, canonical, synonyms_of
from mereo.knowledge.normalize import normalize

Rule = Literal["exact", "lemma", "synonym", "head", "embedding"]
Kind = Literal["part", "object"]

#: Minimum cosine similarity for the ``embedding`` rule (picked on the cases in the tests:
#: real paraphrases score above it, unrelated words such as "banana" for a part below).
DEFAULT_THRESHOLD = 0.7
#: Shortest halves of a closed compound the head rule splits ("door|knob").
MIN_COMPOUND = 3
RULE_SCORES = {"exact": 1.0, "lemma": 0.95, "synonym": 0.9, "head": 0.8}

_lock = threading.Lock()
_EMBED_CACHE: dict[tuple[str, ...], np.ndarray] = {}


class Grounding(BaseModel):
    """Where a phrase landed in the vocabulary.

    Attributes:
        phrase: the text given.
        term: the vocabulary term it grounds to.
        rule: which rule matched (see the module docstring).
        score: 1.0 for exact, lower for looser rules; the cosine similarity for ``embedding``.
        broader: the broader term ``term`` is a kind of (``"seat cushion" -> "seat"``), if known.
    """

    phrase: str
    term: str
    rule: Rule
    score: float = Field(ge=-1.0, le=1.0)
    broader: str | None = None


class _Index:
    """Lookup tables of one vocabulary: lower-case and normalised/canonical forms -> term."""

    def __init__(self, vocabulary: Sequence[str]):
        self.terms = list(dict.fromkeys(vocabulary))
        self.lower = {t.strip().lower(): t for t in self.terms}
        self.norm: dict[str, str] = {}
        self.canon: dict[str, str] = {}
        for t in self.terms:
            self.norm.setdefault(normalize(t), t)
            self.canon.setdefault(canonical(t), t)

    def lemma(self, text: str) -> str | None:
        return self.norm.get(normalize(text))

    def synonym(self, text: str) -> str | None:
        for name in synonyms_of(text):
            if name in self.norm:
                return self.norm[name]
        return self.canon.get(canonical(text))


def default_vocabulary(kind: Kind) -> list[str]:
    """The bundled knowledge base's part or object vocabulary."""
    return list(_default_vocabulary(kind))


@lru_cache(maxsize=2)
def _default_vocabulary(kind: Kind) -> tuple[str, ...]:
    from mereo.knowledge.hierarchy import PartHierarchy, default_graph

    kb = PartHierarchy(default_graph())  # read only: no copy needed
    return tuple(kb.part_vocabulary() if kind == "part" else kb.object_vocabulary())


@lru_cache(maxsize=32)
def _index(vocabulary: tuple[str, ...]) -> _Index:
    return _Index(vocabulary)


def _head_candidates(norm: str) -> list[str]:
    """Shorter readings of a normalised phrase, longest first: the part before ``of``, then suffixes."""
    words = norm.split()
    out: list[str] = []
    if "of" in words[1:]:
        before = words[: words.index("of", 1)]
        out += [" ".join(before[i:]) for i in range(len(before))]
    out += [" ".join(words[i:]) for i in range(1, len(words))]
    return list(dict.fromkeys(c for c in out if c and c != norm))


def vocabulary_embeddings(vocabulary: Sequence[str]) -> np.ndarray:
    """``N x 384`` normalised MiniLM embeddings of the terms (cached per vocabulary)."""
    key = tuple(vocabulary)
    with _lock:
        if key in _EMBED_CACHE:
            return _EMBED_CACHE[key]
    from mereo.text import get_encoder

    emb = get_encoder().encode(list(key))
    with _lock:
        _EMBED_CACHE[key] = emb
    return emb


def nearest(phrase: str, vocabulary: Sequence[str], k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` vocabulary terms closest to ``phrase`` by embedding cosine similarity, best first."""
    from mereo.text import get_encoder

    terms = list(dict.fromkeys(vocabulary))
    if not terms:
        return []
    emb = vocabulary_embeddings(terms)
    q = get_encoder().encode([normalize(phrase) or phrase])[0]
    sims = emb @ q
    order = np.argsort(-sims, kind="stable")[:k]
    return [(terms[i], float(sims[i])) for i in order]


def ground(
    phrase: str,
    kind: Kind = "part",
    vocabulary: Sequence[str] | None = None,
    threshold: float | None = DEFAULT_THRESHOLD,
) -> Grounding | None:
    """Ground a phrase in a vocabulary of part or object names.

    Args:
        phrase: free text, e.g. ``"the chair's legs"``.
        kind: ``"part"`` or ``"object"``; picks the default vocabulary and whether ``"X of Y"``
            reads as the part X.
        vocabulary: the terms to ground in; the bundled knowledge base's parts or objects by default.
        threshold: minimum cosine similarity for the embedding rule; ``None`` switches the
            embedding rule off (only lexical rules, no model is loaded).

    Returns:
        A :class:`Grounding`, or ``None`` when no rule matched.

    Raises:
        ValidationError: ``kind`` is not ``"part"`` or ``"object"``, or ``phrase`` is not a string.
    """
    if kind not in ("part", "object"):
        raise ValidationError(f"ground(kind=...) must be 'part' or 'object', got {kind!r}")
    if not isinstance(phrase, str):
        raise ValidationError(f"ground() needs a string phrase, got {type(phrase).__name__}")
    vocab = tuple(vocabulary) if vocabulary is not None else _default_vocabulary(kind)
    index = _index(vocab)

    def found(term: str, rule: Rule, score: float) -> Grounding:
        return Grounding(phrase=phrase, term=term, rule=rule, score=score, broader=broader(term))

    norm = normalize(phrase)
    if not norm or not index.terms:
        return None
    if (t := index.lower.get(phrase.strip().lower())) is not None:
        return found(t, "exact", RULE_SCORES["exact"])
    if (t := index.lemma(phrase)) is not None:
        return found(t, "lemma", RULE_SCORES["lemma"])
    if (t := index.synonym(phrase)) is not None:
        return found(t, "synonym", RULE_SCORES["synonym"])
    last = norm.split()[-1]
    closed = [last[i:] for i in range(MIN_COMPOUND, len(last) - MIN_COMPOUND + 1)]
    for cand in [*_head_candidates(norm), *closed]:
        if (t := index.lemma(cand) or index.synonym(cand)) is not None:
            return found(t, "head", RULE_SCORES["head"])
    if threshold is None:
        return None
    best = nearest(norm, index.terms, k=1)
    if best and best[0][1] >= threshold:
        return found(best[0][0], "embedding", min(1.0, best[0][1]))
    return None
