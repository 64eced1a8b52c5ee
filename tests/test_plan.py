"""Plan schema: validation, the items JSON format, and the schema file shipped in mereo/prompts."""

from __future__ import annotations

import pytest

from mereo.errors import ValidationError
from mereo.plan import Plan, parse_expr, parse_plan, plan_json_schema
from mereo.prompts import load_schema, render
from mereo.types import validate

NESTED = {
    "op": "difference",
    "args": [
        {
            "op": "intersect",
            "args": [
                {"op": "parts", "object": "chair", "image": 0},
                {"op": "parts", "object": "stool", "image": 1},
            ],
        },
        {
            "op": "union",
            "args": [{"op": "parts", "object": "table", "image": 2}, {"op": "kb_parts", "object": "bed"}],
        },
    ],
}


def test_nested_expression_round_trips_in_the_items_format() -> None:
    plan = parse_plan({"expr": NESTED})
    assert plan.to_gold_format() == {"expr": NESTED, "returns": "parts"}
    assert plan.images_used() == [0, 1, 2]


def test_object_answers_must_return_objects() -> None:
    with pytest.raises(ValidationError, match="returns objects"):
        parse_plan({"expr": {"op": "part_to_whole", "part": "wheel", "images": [0]}, "returns": "parts"})
    plan = parse_plan({"expr": {"op": "common_objects", "images": [0, 1]}, "returns": "objects"})
    assert plan.images_used() == [0, 1]


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"op": "intersect", "args": [{"op": "parts", "object": "chair", "image": 0}]}, "args"),
        ({"op": "parts", "object": "", "image": 0}, "object"),
        ({"op": "parts", "object": "chair", "image": -1}, "image"),
        ({"op": "teleport"}, "teleport"),
    ],
)
def test_bad_expressions_name_the_problem(bad: dict, where: str) -> None:
    with pytest.raises(ValidationError, match=where):
        parse_expr(bad)


def test_schema_file_matches_the_model_and_validates_plans() -> None:
    schema = load_schema("plan.schema.json")
    assert schema == plan_json_schema(), "run `python -m mereo.prompts` to regenerate plan.schema.json"
    validate({"expr": NESTED, "returns": "parts"}, schema, what="plan")
    with pytest.raises(ValidationError):
        validate({"expr": {"op": "parts"}}, schema, what="plan")


def test_prompt_templates_render_and_refuse_missing_values() -> None:
    text = render("understand.md", n_images=2, schema="{}", history="(none)")
    assert "2 image(s)" in text and '{"op": "parts"' in text
    with pytest.raises(ValidationError, match="needs a value"):
        render("understand.md", n_images=2)
    assert Plan.model_json_schema()["title"] == "Plan"
