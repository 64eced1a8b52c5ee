"""Multiple choice: which of an item's answer choices an answer's labels pick.

The one chooser of the package: :meth:`mereo.PartAgent.choose` and the eval predictors (the
agent and the blind baseline) all call :func:`choose`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np

from mereo.errors import QuestionError
from mereo.knowledge import PartHierarchy, canonical


def choice_labels(choice: str, kb: PartHierarchy) -> set[str]:
    """The part (or object) names a multiple-choice answer lists, canonical.

    The list after the choice's last colon (``"... has the following visible parts: cockpit,
    propeller, and wings."``), or else every known part and object name it mentions.
    """
    if ":" in choice:
        tail = choice.rsplit(":", 1)[1]
        items = re.split(r",|;|\band\b|\bor\b", tail.strip().rstrip("."))
        return {c for c in (canonical(x) for x in items) if c and c not in ("none", "nothing")}
    vocab = set(kb.part_vocabulary()) | set(kb.object_vocabulary())
    words = canonical(choice)
    text = " " + " ".join(canonical(w) for w in choice.lower().replace(",", " ").split()) + " "
    return {v for v in vocab if f" {v} " in text or f" {v} " in f" {words} "}


def jaccard(a: set[str], b: set[str]) -> float:
    """``|a & b| / |a | b|`` (1 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def choose(
    labels: Sequence[str],
    choices: Sequence[str],
    kb: PartHierarchy | None = None,
    answer_parts: Sequence[Sequence[str]] | None = None,
    ties: Literal["embedding", "first"] = "embedding",
) -> int:
    """The index of the choice whose part set best matches ``labels``.

    Each choice's part set is ``answer_parts[i]`` when given (a dataset's part list per choice),
    else read from its text (:func:`choice_labels`). Score: Jaccard overlap of the canonical names;
    ties go to the choice whose MiniLM sentence embedding is closest to the labels' (the agent),
    or to the first of them (``ties="first"``: the blind baseline, which uses no model).

    Args:
        labels: the answer's labels.
        choices: the choices' texts.
        kb: the knowledge base whose names :func:`choice_labels` looks for (the default one if None).
        answer_parts: optional part list of each choice, in the order of ``choices``.
        ties: how to break ties: ``"embedding"`` (MiniLM) or ``"first"``.

    Raises:
        QuestionError: no choices.
    """
    if not choices and not answer_parts:
        raise QuestionError("choose() needs at least one choice")
    gold = {canonical(x) for x in labels}
    if answer_parts:
        options = [{canonical(x) for x in parts} for parts in answer_parts]
        texts = [choices[i] if i < len(choices) else ", ".join(p) for i, p in enumerate(answer_parts)]
    else:
        kb = kb if kb is not None else PartHierarchy.default()
        options = [choice_labels(c, kb) for c in choices]
        texts = list(choices)
    scores = [jaccard(gold, o) for o in options]
    best = max(scores)
    tied = [i for i, s in enumerate(scores) if s >= best - 1e-9]
    if len(tied) == 1 or ties == "first":
        return tied[0]
    from mereo.text import get_encoder

    vecs = get_encoder().encode([", ".join(sorted(gold)) or "nothing", *(texts[i] for i in tied)])
    sims = vecs[1:] @ vecs[0]
    return tied[int(np.argmax(sims))]
