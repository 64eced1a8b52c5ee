"""Answer sentences: part names tied to the plan's operation (``"The chair and the stool share ..."``)."""

from __future__ import annotations

from collections.abc import Sequence

from mereo.agent.plan import (
    CommonObjectsExpr,
    KbPartsExpr,
    LabelsExpr,
    PartsExpr,
    PartToWholeExpr,
    Plan,
    SetOpExpr,
    WholeToPartExpr,
)


def join(items: Sequence[str]) -> str:
    """``["a", "b", "c"] -> "a, b and c"``."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _name(expr: object, recognized: dict[int, str]) -> str:
    """How to call the object(s) of a sub-expression in a sentence."""
    if isinstance(expr, PartsExpr):
        where = f" in image {expr.image + 1}" if expr.image is not None else ""
        return f"the {expr.object}{where}"
    if isinstance(expr, KbPartsExpr):
        return _article(expr.object)
    if isinstance(expr, WholeToPartExpr):
        return f"the {recognized.get(expr.image, 'object')} in image {expr.image + 1}"
    if isinstance(expr, LabelsExpr):
        return "the earlier answer"
    if isinstance(expr, SetOpExpr):
        if expr.op == "intersect":
            return "what " + join([_name(a, recognized) for a in expr.args]) + " share"
        return "the result"
    return "it"


def answer_text(
    plan: Plan, labels: Sequence[str], recognized: dict[int, str], missing: Sequence[str] = ()
) -> str:
    """The answer in one or two sentences.

    Args:
        plan: the validated plan.
        labels: the answer's sorted labels.
        recognized: image index -> the recognised object's name (for whole-to-part answers).
        missing: sentences about objects that were not found (prepended).
    """
    e = plan.expr
    parts = join(list(labels))
    if isinstance(e, PartToWholeExpr):
        body = (
            f"{join([f'the {x}' for x in labels]).capitalize()} {'has' if len(labels) == 1 else 'have'} "
            f"{_article(e.part)}."
            if labels
            else f"No object in the image has {_article(e.part)}."
        )
    elif isinstance(e, CommonObjectsExpr):
        body = (
            f"Every image shows {join([_article(x) for x in labels])}."
            if labels
            else "The images have no object in common."
        )
    elif isinstance(e, WholeToPartExpr):
        obj = recognized.get(e.image)
        body = (
            f"It is {_article(obj)}; its visible parts are: {parts}."
            if obj and labels
            else f"It is {_article(obj)}, but no parts of it were found."
            if obj
            else "No object was recognised in the image."
        )
    elif isinstance(e, PartsExpr):
        body = (
            f"{_name(e, recognized).capitalize()} has these visible parts: {parts}."
            if labels
            else f"No visible parts of {_name(e, recognized)} were found."
        )
    elif isinstance(e, SetOpExpr) and len(e.args) == 2:
        a, b = (_name(x, recognized) for x in e.args)
        if e.op == "intersect":
            body = (
                f"{a.capitalize()} and {b} share: {parts}."
                if labels
                else f"{a.capitalize()} and {b} share no parts."
            )
        elif e.op == "difference":
            body = (
                f"{a.capitalize()} has these parts that {b} lacks: {parts}."
                if labels
                else f"{a.capitalize()} has no part that {b} lacks."
            )
        elif e.op == "symmetric_difference":
            body = (
                f"The parts only one of {a} and {b} has: {parts}."
                if labels
                else f"{a.capitalize()} and {b} have the same parts."
            )
        else:
            body = f"Together, {a} and {b} have: {parts}." if labels else "Neither has any visible part."
    else:
        body = f"The answer: {parts}." if labels else "The answer is empty: no part fits."
    return " ".join([*missing, body])
