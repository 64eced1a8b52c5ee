"""Property tests over plan JSON: anything either parses to a valid Plan or raises a MereoError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mereo.errors import MereoError
from mereo.plan import SET_OPS, Plan, parse_expr, parse_plan

scalars = st.none() | st.booleans() | st.integers(-3, 5) | st.floats(allow_nan=True) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
OPS = [*SET_OPS, "parts", "kb_parts", "labels", "part_to_whole", "whole_to_part", "common_objects", "bogus"]
KEYS = ["op", "args", "object", "image", "images", "part", "labels", "extra"]


def _expr(depth: int) -> st.SearchStrategy[Any]:
    """Dicts that look like set expressions: real op names and keys, values of any type."""
    leaf = st.fixed_dictionaries(
        {"op": st.sampled_from(OPS)},
        optional={k: scalars | st.lists(scalars, max_size=3) for k in KEYS[1:]},
    )
    if depth == 0:
        return leaf
    return leaf | st.fixed_dictionaries(
        {"op": st.sampled_from(OPS), "args": st.lists(_expr(depth - 1), max_size=3)}
    )


plans = st.fixed_dictionaries(
    {"expr": _expr(3)},
    optional={
        "question": st.text(max_size=20) | scalars,
        "objects": st.lists(st.dictionaries(st.sampled_from(["name", "image", "description", "x"]), scalars)),
        "returns": st.sampled_from(["parts", "objects", "nonsense"]) | scalars,
        "n_images": scalars,
        "notes": st.lists(scalars, max_size=2) | scalars,
    },
)


def _parses_or_mereo_error(data: Any) -> None:
    try:
        plan = parse_plan(data)
    except MereoError as e:
        assert 0 < len(str(e)) < 2000, len(str(e))
        return
    assert isinstance(plan, Plan)
    # a valid plan survives its own JSON round trip and keeps its gold-format view
    again = parse_plan(plan.model_dump_json())
    assert again.to_gold_format() == plan.to_gold_format()
    assert all(i >= 0 for i in plan.images_used())


def _deep(n: int) -> dict[str, Any]:
    e: dict[str, Any] = {"op": "kb_parts", "object": "chair"}
    for _ in range(n):
        e = {"op": "union", "args": [e, {"op": "parts", "object": "stool", "image": "x"}]}
    return e


@settings(max_examples=300, deadline=None)
@given(plans)
@example({"expr": {"op": "part_to_whole", "part": "leg", "images": [-1]}, "returns": "objects"})
@example({"expr": {"op": "common_objects", "images": [0, -2]}, "returns": "objects"})
def test_plan_shaped_dicts(data: dict[str, Any]) -> None:
    _parses_or_mereo_error(data)


def test_deeply_nested_plans_give_a_short_error() -> None:
    _parses_or_mereo_error({"expr": _deep(400)})
    _parses_or_mereo_error(json.dumps({"expr": _deep(400)}))
    _parses_or_mereo_error("[" * 100_000 + "]" * 100_000)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_value(data: Any) -> None:
    _parses_or_mereo_error(data)
    _parses_or_mereo_error(json.dumps(data))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60) | st.binary(max_size=60))
def test_any_text_or_bytes(data: str | bytes) -> None:
    _parses_or_mereo_error(data)


@settings(max_examples=200, deadline=None)
@given(_expr(3) | json_values)
def test_expressions(data: Any) -> None:
    try:
        parse_expr(data)
    except MereoError:
        pass
