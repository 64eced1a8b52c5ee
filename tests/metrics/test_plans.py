"""Plan accuracy: canonical forms of set expressions."""

from __future__ import annotations

from mereo import metrics as M


def _parts(obj: str, image: int | None) -> dict:
    return {"op": "parts", "object": obj, "image": image}


def test_plan_match_commutative_and_not():
    a, b, c = _parts("chair", 0), _parts("stool", 1), {"op": "kb_parts", "object": "bird"}
    gold = {"expr": {"op": "intersect", "args": [a, b]}, "returns": "parts"}
    assert M.plan_match({"op": "intersect", "args": [b, a]}, gold) == 1.0
    assert M.plan_match({"op": "difference", "args": [a, b]}, {"op": "difference", "args": [a, b]}) == 1.0
    assert M.plan_match({"op": "difference", "args": [b, a]}, {"op": "difference", "args": [a, b]}) == 0.0
    # nested same-op commutative nodes flatten; case and null keys do not matter
    nested = {"op": "union", "args": [{"op": "union", "args": [c, a]}, b]}
    flat = {"op": "union", "args": [{"op": "parts", "object": "Stool", "image": 1}, a, {**c, "image": None}]}
    assert M.plan_match(nested, flat) == 1.0
    common = {"op": "common_objects", "images": [0, 1]}
    assert M.plan_match({"op": "common_objects", "images": [1, 0]}, common) == 1.0
    assert M.plan_match(_parts("chair", 0), _parts("chair", 1)) == 0.0
    assert M.plan_match(None, gold) == 0.0


def test_symmetric_difference_is_commutative():
    a, b = _parts("chair", 0), _parts("stool", 1)
    gold = {"op": "symmetric_difference", "args": [a, b]}
    assert M.plan_match({"op": "symmetric_difference", "args": [b, a]}, gold) == 1.0
    assert M.plan_match({"op": "difference", "args": [b, a]}, {"op": "difference", "args": [a, b]}) == 0.0
    assert M.normalize_expr(gold)["op"] == "symmetric difference"


def test_names_are_compared_case_folded_not_canonicalised():
    # the plan metric keeps the benchmarks' label key: "Chairs" is not "chair" (no singular)
    assert M.plan_match(_parts("Chair", 0), _parts("chair", 0)) == 1.0
    assert M.plan_match(_parts("chairs", 0), _parts("chair", 0)) == 0.0
