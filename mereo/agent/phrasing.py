"""Answer sentences: part names tied to the plan's operation (``"The chair and the stool share ..."``)."""

from __future__ import annotations

from collections.abc import Sequence

from mereo.plan import (
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


def _is_leaf(expr: object) -> bool:
    return isinstance(expr, (PartsExpr, KbPartsExpr, WholeToPartExpr))


def _set_phrase(expr: object, recognized: dict[int, str]) -> tuple[str, list[str]]:
    """A noun phrase for the part set of ``expr``: a head and relative clauses ("that ... lacks")."""
    if isinstance(expr, LabelsExpr):
        return "those parts", []
    if _is_leaf(expr):
        return f"the parts of {_name(expr, recognized)}", []
    assert isinstance(expr, SetOpExpr)
    x, ys = expr.args[0], expr.args[1:]
    names = [_name(y, recognized) for y in ys]
    leaves = all(_is_leaf(y) for y in ys)
    union_leaves = (
        len(ys) == 1
        and isinstance(ys[0], SetOpExpr)
        and ys[0].op == "union"
        and all(_is_leaf(a) for a in ys[0].args)
    )
    if union_leaves:
        names = [_name(a, recognized) for a in ys[0].args]  # type: ignore[union-attr]
    if expr.op == "symmetric_difference" and _is_leaf(x) and leaves:
        return f"the parts only one of {join([_name(x, recognized), *names])} has", []
    if expr.op in ("intersect", "union") and _is_leaf(x) and leaves:
        verb = "share" if expr.op == "intersect" else "have between them"
        return f"the parts {join([_name(x, recognized), *names])} {verb}", []
    head, clauses = _set_phrase(x, recognized)
    if expr.op == "intersect" and (leaves or union_leaves):
        return head, [
            *clauses,
            f"{' or '.join(names)} also {'has' if len(names) == 1 or union_leaves else 'have'}",
        ]
    if expr.op == "difference" and leaves:
        return head, [*clauses, f"{join(names)} {'lacks' if len(names) == 1 else 'lack'}"]
    if expr.op == "difference" and union_leaves:
        return head, [*clauses, f"neither {' nor '.join(names)} has"]
    rest = [_set_phrase(y, recognized)[0] for y in ys]
    word = {
        "intersect": "are also among",
        "difference": "are not among",
        "union": "or are among",
        "symmetric_difference": "are in exactly one of",
    }[expr.op]
    return head, [*clauses, f"{word} {join(rest)}"]


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
    elif isinstance(e, SetOpExpr):
        head, clauses = _set_phrase(e, recognized)
        phrase = head + "".join(f" {'that' if i == 0 else 'and that'} {c}" for i, c in enumerate(clauses))
        body = f"{phrase[0].upper()}{phrase[1:]}: {parts if labels else 'none'}."
    else:
        body = f"The answer: {parts}." if labels else "The answer is empty: no part fits."
    return " ".join([*missing, body])
