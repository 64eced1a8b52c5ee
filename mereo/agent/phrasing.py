"""Answer sentences: part names tied to the plan's operation (``"The chair and the stool share ..."``)."""

from __future__ import annotations

from collections.abc import Sequence

from mereo.plan import (
    CommonObjectsExpr,
    CountExpr,
    ExistsExpr,
    KbPartsExpr,
    LabelsExpr,
    PartsExpr,
    PartToWholeExpr,
    Plan,
    SetOpExpr,
    WhichExpr,
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


def plural(noun: str) -> str:
    """``leg -> legs``, ``bush -> bushes``, ``body -> bodies`` (last word only)."""
    head, _, last = noun.rpartition(" ")
    if last.endswith(("s", "sh", "ch", "x", "z")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def _short(leaf: PartsExpr, n_images: int | None) -> str:
    """``the mug`` (one image) or ``the mug in image 2``."""
    where = f" in image {leaf.image + 1}" if leaf.image is not None and n_images != 1 else ""
    return f"the {leaf.object}{where}"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "either " + " or ".join(names)


def _neither(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "neither " + " nor ".join(names)


def query_text(
    expr: ExistsExpr | CountExpr | WhichExpr,
    scalar: bool | int | None,
    per_object: dict[str, bool | None],
    n_images: int | None = None,
    guessed: bool = False,
) -> str:
    """The direct answer to a yes/no, count or which question ("Yes: the bird has a beak.",
    "The stool has 3 legs.", "The kettle has a spout."; with ``guessed``, the which-object answer
    is a best guess: "The kettle probably has a spout."); empty when it cannot be given (an object
    was not found: the "could not find" sentence says so)."""
    part = expr.part
    if isinstance(expr, CountExpr):
        if scalar is None:
            return ""
        who = _short(expr.of, n_images).capitalize()
        if scalar == 0:
            return f"{who} has no visible {plural(part)}."
        return f"{who} has {scalar} {part if scalar == 1 else plural(part)}."
    leaves = list(expr.of) if isinstance(expr, ExistsExpr) else list(expr.candidates)
    names = {leaf.object: _short(leaf, n_images) for leaf in leaves}
    having = [names[o] for o, v in per_object.items() if v and o in names]
    lacking = [names[o] for o, v in per_object.items() if v is False and o in names]
    a_part = _article(part)
    if isinstance(expr, WhichExpr):
        if having:
            verb = "has" if len(having) == 1 else "both have" if len(having) == 2 else "all have"
            verb = f"probably {verb}" if guessed else verb
            return f"{join(having)[0].upper()}{join(having)[1:]} {verb} {a_part}."
        return f"{_neither(lacking).capitalize()} has {a_part}." if lacking else ""
    if scalar is None:
        return ""
    word = "Yes" if scalar else "No"
    if expr.quantifier == "none":
        reason = f"{join(having)} {'has' if len(having) == 1 else 'have'} {a_part}" if having else ""
        return f"{word}: {reason or _neither(lacking) + ' has ' + a_part}."
    if scalar:
        if expr.quantifier == "any" or len(having) == 1:
            return f"{word}: {join(having)} {'has' if len(having) == 1 else 'have'} {a_part}."
        return f"{word}: {join(having)} {'both' if len(having) == 2 else 'all'} have {a_part}."
    if expr.quantifier == "any":
        return f"{word}: {_neither(lacking)} has {a_part}."
    return f"{word}: {join(lacking)} {'has' if len(lacking) == 1 else 'have'} no visible {part}."


def answer_text(
    plan: Plan,
    labels: Sequence[str],
    recognized: dict[int, str],
    missing: Sequence[str] = (),
    scalar: bool | int | None = None,
    per_object: dict[str, bool | None] | None = None,
    n_images: int | None = None,
    guessed: bool = False,
) -> str:
    """The answer in one or two sentences.

    Args:
        plan: the validated plan.
        labels: the answer's sorted labels.
        recognized: image index -> the recognised object's name (for whole-to-part answers).
        missing: sentences about objects that were not found (prepended).
        scalar, per_object: a yes/no or count answer (:class:`mereo.agent.evidence.Result`).
        n_images: how many images the question has (one: yes/no and count answers leave out
            "in image 1").
        guessed: a which-object or part-to-whole answer is a best guess ("probably has").
    """
    e = plan.expr
    parts = join(list(labels))
    if isinstance(e, (ExistsExpr, CountExpr, WhichExpr)):
        body = query_text(e, scalar, per_object or {}, n_images, guessed)
        return " ".join(x for x in [*missing, body] if x)
    if missing and not labels:  # nothing to list: say only what could not be found
        return " ".join(missing)
    if isinstance(e, PartToWholeExpr):
        where = (
            "the image"
            if len(e.images) == 1 and n_images == 1
            else join([f"image {i + 1}" for i in e.images])
        )
        if n_images is None:
            where = "the image"
        body = (
            f"{join([f'the {x}' for x in labels]).capitalize()} {'probably ' if guessed else ''}"
            f"{'has' if len(labels) == 1 else 'have'} {_article(e.part)}."
            if labels
            else f"No object in {where} has {_article(e.part)}."
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
