"""Question wordings, answer sentences and multiple-choice distractors for SynthParts questions.

Several phrasings per question type; the generator picks one at random per question so that no
model can rely on a single template.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PHRASINGS: dict[str, tuple[str, ...]] = {
    "identification": (
        "What visible parts does the {obj} in the image have?",
        "Which parts of the {obj} can you see in the image?",
        "List the visible parts of the {obj} in this image.",
        "Name the parts of the {obj} that are visible here.",
    ),
    "intersection": (
        "What visible parts does the {obj} in the image have in common with {a_other}?",
        "Which of the visible parts of the {obj} does {a_other} also have?",
        "Which parts visible on the {obj} here are shared with {a_other}?",
        "What parts of the {obj} in this picture would you also find on {a_other}?",
    ),
    "difference": (
        "What visible parts does the {obj} in the image have which {a_other} does not have?",
        "Which visible parts of the {obj} does {a_other} lack?",
        "What does the {obj} in the image have that {a_other} doesn't?",
        "Which parts can you see on the {obj} that are missing from {a_other}?",
    ),
    "part_to_whole": (
        "Which object in the image has {a_part}?",
        "What object in this image has {a_part}?",
        "Which object here does the {part} belong to?",
        "Find the object with {a_part} in the image.",
    ),
    "whole_to_part": (
        "What is the object in the image, and what visible parts does it have?",
        "Identify the object in the image and list its visible parts.",
        "What object is shown, and which of its parts are visible?",
    ),
    "common_objects": (
        "Which objects appear in both (IMAGE1) and (IMAGE2)?",
        "What objects do (IMAGE1) and (IMAGE2) have in common?",
        "Segment the objects that are present in both (IMAGE1) and (IMAGE2).",
    ),
    "common_parts": (
        "Which parts do the {a} in (IMAGE1) and the {b} in (IMAGE2) have in common?",
        "What parts are shared by the {a} in (IMAGE1) and the {b} in (IMAGE2)?",
        "Segment the common parts of the {a} in (IMAGE1) and the {b} in (IMAGE2).",
    ),
    "unique_parts": (
        "Which parts does each of the {a} in (IMAGE1) and the {b} in (IMAGE2) have that the other lacks?",
        "What are the unique parts of the {a} in (IMAGE1) and of the {b} in (IMAGE2)?",
        "Segment the parts that only the {a} in (IMAGE1) or only the {b} in (IMAGE2) has.",
    ),
}

#: Multi-step compositions: name -> wordings over the objects ``a`` (image 1), ``b`` (image 2),
#: ``c`` (image 3) and a named object ``x`` that is in no image.
MULTISTEP: dict[str, tuple[str, ...]] = {
    "shared_minus_third": (
        "Which parts does the {a} in image 1 share with the {b} in image 2 that the {c} in image 3 lacks?",
        "What parts do the {a} (image 1) and the {b} (image 2) both have, but the {c} (image 3) does not?",
    ),
    "shared_with_named": (
        "Which parts do the {a} in image 1 and the {b} in image 2 both share with {a_x}?",
        "What parts common to the {a} (image 1) and the {b} (image 2) does {a_x} also have?",
    ),
    "shared_not_named": (
        "Which parts shared by the {a} in image 1 and the {b} in image 2 does {a_x} not have?",
        "What do the {a} in image 1 and the {b} in image 2 have in common that {a_x} lacks?",
    ),
    "only_first": (
        "Which parts of the {a} in image 1 are found on neither the {b} in image 2 nor the {c} in image 3?",
        "What does the {a} (image 1) have that both the {b} (image 2) and the {c} (image 3) lack?",
    ),
    "first_in_either": (
        "Which parts of the {a} in image 1 also appear on the {b} in image 2 or on the {c} in image 3?",
        "What parts does the {a} in image 1 have in common with at least one of the {b} (image 2) "
        "and the {c} (image 3)?",
    ),
    "unique_and_named": (
        "Which parts does the {a} in image 1 have that the {b} in image 2 lacks, but {a_x} has?",
        "Of the parts the {a} (image 1) has and the {b} (image 2) does not, which does {a_x} also have?",
    ),
}


def article(noun: str) -> str:
    """``"a chair"``, ``"an airplane"``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def join_list(items: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b, and c"``; ``"nothing"`` when empty."""
    items = list(items)
    if not items:
        return "nothing"
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def answer_sentence(question_type: str, labels: Sequence[str], obj: str | None = None) -> str:
    """The answer sentence of one multiple-choice option."""
    if question_type == "part_to_whole":
        return f"The object is {join_list([article(x) for x in labels])}."
    if question_type == "whole_to_part":
        return f"It is {article(obj or 'object')} with the following visible parts: {join_list(labels)}."
    subject = f"the {obj} in the image" if obj else "the object in the image"
    return f"{subject[0].upper()}{subject[1:]} has the following visible parts: {join_list(labels)}."


def mutate(rng: np.random.Generator, labels: Sequence[str], pool: Sequence[str]) -> list[str]:
    """One distractor: 1-2 random add / delete / replace edits of ``labels`` drawn from ``pool``."""
    out = list(labels)
    for _ in range(int(rng.integers(1, 3))):
        unused = [p for p in pool if p not in out]
        ops = [
            op
            for op, ok in (
                ("add", bool(unused)),
                ("delete", len(out) > 1),
                ("replace", bool(unused) and bool(out)),
            )
            if ok
        ]
        if not ops:
            break
        op = str(rng.choice(ops))
        if op == "add":
            out.append(str(rng.choice(unused)))
        elif op == "delete":
            out.pop(int(rng.integers(len(out))))
        else:
            out[int(rng.integers(len(out)))] = str(rng.choice(unused))
    return sorted(set(out))


def choices(
    rng: np.random.Generator, correct: Sequence[str], pool: Sequence[str], n: int = 5
) -> tuple[list[list[str]], list[str]]:
    """``n`` label lists (1 correct + distinct distractors) in random order and their types.

    Returns:
        ``(answer_parts, answer_types)`` with ``answer_types[i]`` ``"correct"`` or ``"incorrect"``.
    """
    gold = sorted(set(correct))
    seen = {tuple(gold)}
    lists = [gold]
    for _ in range(200):
        if len(lists) == n:
            break
        d = mutate(rng, gold, pool)
        if d and tuple(d) not in seen:
            seen.add(tuple(d))
            lists.append(d)
    order = rng.permutation(len(lists))
    return [lists[i] for i in order], ["correct" if i == 0 else "incorrect" for i in order]
