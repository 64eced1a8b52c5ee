"""Checks of a plan beyond its JSON schema, before the agent uses it.

A hosted LMM can return a plan that matches the schema and still cannot be run: an image index
past the images given, a blank object name, set operations nested thousands deep, a ``labels``
node on the first question of a thread (arbitrary labels injected into the answer), a
``returns`` that does not fit the operation, or a yes/no question inside a set operation.
:func:`check_plan` finds these and raises a :class:`~mereo.errors.ValidationError` that says
what is wrong, so the hosted planner can show it to the LMM in its repair round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mereo.errors import ValidationError
from mereo.plan import (
    MAX_DEPTH,
    QUERY_OPS,
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
    children,
)


def expr_depth(expr: Any) -> int:
    """Nesting depth of an expression (a leaf is 1), without recursion."""
    best, stack = 0, [(expr, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + 1) for c in children(node))
    return best


def _kind(expr: Any) -> str | None:
    """What an expression yields, bottom up without recursion (``None``: ``labels``, either kind).

    Raises:
        ValidationError: a set operation mixes part sets and object sets.
    """
    order: list[Any] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(children(node))
    kinds: dict[int, str | None] = {}
    for node in reversed(order):  # children before parents
        if isinstance(node, SetOpExpr):
            found = {kinds[id(a)] for a in node.args} - {None}
            if len(found) > 1:
                raise ValidationError(
                    f"a {node.op} combines part sets with object sets; combine sets of one kind only"
                )
            kinds[id(node)] = found.pop() if found else None
        elif isinstance(node, (ExistsExpr, CountExpr, WhichExpr)):
            kinds[id(node)] = QUERY_OPS[node.op]
        elif isinstance(node, (PartToWholeExpr, CommonObjectsExpr)):
            kinds[id(node)] = "objects"
        elif isinstance(node, LabelsExpr):
            kinds[id(node)] = None
        else:
            kinds[id(node)] = "parts"
    return kinds[id(expr)]


def _images(n: int) -> str:
    return f"only {n} image{'' if n == 1 else 's'} (indices 0 to {n - 1})"


def _name_ok(name: str | None) -> bool:
    return bool(name) and any(ch.isalpha() for ch in str(name))


def check_plan(plan: Plan, n_images: int, history: Sequence[dict[str, Any]] = ()) -> Plan:
    """Check ``plan`` against the question's images and thread.

    Args:
        plan: a schema-valid plan.
        n_images: how many images the question has.
        history: earlier turns on the thread (``{"question", "labels", "text"}``), oldest first.

    Returns:
        The plan, unchanged.

    Raises:
        ValidationError: the first problem found: an image index outside ``0 .. n_images - 1``, a
            blank object or part name, nesting deeper than :data:`~mereo.plan.MAX_DEPTH`, a
            ``labels`` node without an earlier answer (or with labels no earlier answer had), a
            yes/no, count or which node below the root, or a ``returns`` that does not fit.
    """
    depth = expr_depth(plan.expr)
    if depth > MAX_DEPTH:
        raise ValidationError(f"the expression nests {depth} levels deep; at most {MAX_DEPTH} are allowed")
    last = n_images - 1
    for o in plan.objects:
        if o.image is not None and o.image > last:
            raise ValidationError(
                f"object {o.name!r} is in image index {o.image}, but there are {_images(n_images)}"
            )
        if o.name is not None and not _name_ok(o.name):
            raise ValidationError(f"an object in 'objects' has a blank name ({o.name!r}); name it")
    earlier = {str(x) for h in history for x in h.get("labels", [])}
    stack: list[tuple[Any, bool]] = [(plan.expr, True)]
    while stack:
        node, root = stack.pop()
        stack.extend((c, False) for c in children(node))
        if isinstance(node, (ExistsExpr, CountExpr, WhichExpr)) and not root:
            raise ValidationError(f"a {node.op} question must be the whole expression, not inside another")
        images = (
            [node.image]
            if isinstance(node, (PartsExpr, WholeToPartExpr)) and node.image is not None
            else list(node.images)
            if isinstance(node, (PartToWholeExpr, CommonObjectsExpr))
            else []
        )
        for i in images:
            if i > last:
                raise ValidationError(
                    f"the {node.op} node uses image index {i}, but there are {_images(n_images)}"
                )
        if isinstance(node, (PartsExpr, KbPartsExpr)) and not _name_ok(node.object):
            raise ValidationError(f"a {node.op} node has a blank object name ({node.object!r})")
        if isinstance(node, (PartToWholeExpr, ExistsExpr, CountExpr, WhichExpr)) and not _name_ok(node.part):
            raise ValidationError(f"a {node.op} node has a blank part name ({node.part!r})")
        if isinstance(node, LabelsExpr):
            if not history:
                raise ValidationError(
                    "a labels node stands for an earlier answer, but this is the first question on the "
                    "thread; use parts / kb_parts nodes instead"
                )
            extra = sorted(set(node.labels) - earlier)
            if extra:
                raise ValidationError(
                    f"the labels node lists {', '.join(extra)}, which no earlier answer on this thread had"
                )
    kind = _kind(plan.expr)
    if kind is not None and plan.returns != kind:
        raise ValidationError(f"the plan's expression yields {kind}, but 'returns' says {plan.returns}")
    return plan
