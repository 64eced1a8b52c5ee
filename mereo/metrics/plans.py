"""Plan metrics: a canonical form of set expressions and plan accuracy.

A predicted plan is right when its expression tree equals the gold one up to the order of
commutative arguments, ``None`` keys and the case of names (see :func:`normalize_expr`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mereo.metrics.common import casefold_label

COMMUTATIVE = frozenset({"intersect", "union", "symmetric_difference"})
#: The same ops as :func:`normalize_expr` writes them (names pass through ``casefold_label``).
_COMMUTATIVE_KEYS = frozenset(casefold_label(op) for op in COMMUTATIVE)


def _to_plain(expr: Any) -> Any:
    if hasattr(expr, "model_dump"):
        return expr.model_dump(exclude_none=True)
    return expr


def normalize_expr(expr: Any) -> Any:
    """A canonical form of a set expression (see :mod:`mereo.data.items`).

    Keys with ``None`` values are dropped, names are normalised, ``images`` lists are sorted,
    nested same-op commutative nodes are flattened and their arguments sorted, so two
    expressions that only differ in the order of commutative arguments compare equal. A Plan (or
    any dict holding ``"expr"``) is reduced to its expression.
    """
    expr = _to_plain(expr)
    if isinstance(expr, Mapping) and "expr" in expr and "op" not in expr:
        expr = _to_plain(expr["expr"])
    if isinstance(expr, (list, tuple)):
        return [normalize_expr(x) for x in expr]
    if not isinstance(expr, Mapping):
        return casefold_label(expr) if isinstance(expr, str) else expr
    out: dict[str, Any] = {}
    for k, v in expr.items():
        if v is None:
            continue
        if k == "args":
            continue
        if k == "images" and isinstance(v, (list, tuple)):
            out[k] = sorted(v)
        else:
            out[k] = normalize_expr(v)
    if "args" in expr:
        args = [normalize_expr(a) for a in expr["args"] or []]
        op = out.get("op")
        if op in _COMMUTATIVE_KEYS:
            flat: list[Any] = []
            for a in args:
                flat.extend(a["args"] if isinstance(a, dict) and a.get("op") == op else [a])
            args = sorted(flat, key=lambda a: json.dumps(a, sort_keys=True, default=str))
        out["args"] = args
    return out


def plan_match(pred: Any, gold: Any) -> float:
    """Plan accuracy of one item: 1.0 when the normalised expression trees are equal."""
    try:
        return float(normalize_expr(pred) == normalize_expr(gold))
    except (TypeError, AttributeError):
        return 0.0
