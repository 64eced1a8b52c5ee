"""The offline planner reads yes/no, count and which-object questions into their plan nodes."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.agent.lmm.offline import OfflinePlanner
from mereo.errors import QuestionError
from mereo.plan_checks import check_plan
from mereo.types import ImageRef

IMAGES = [ImageRef(np.full((32, 32, 3), k, dtype=np.uint8)) for k in (0, 9)]


def _leaf(obj: str, image: int | None) -> dict:
    return {"op": "parts", "object": obj, "image": image}


CASES = [
    (
        "Does the bird have a beak?",
        1,
        {"op": "exists", "part": "beak", "of": [_leaf("bird", 0)], "quantifier": "all"},
        "yes_no",
    ),
    (
        "Do the mug and the kettle both have handles?",
        2,
        {"op": "exists", "part": "handle", "of": [_leaf("mug", 0), _leaf("kettle", 1)], "quantifier": "all"},
        "yes_no",
    ),
    (
        "Does either the mug or the kettle have a spout?",
        2,
        {"op": "exists", "part": "spout", "of": [_leaf("mug", 0), _leaf("kettle", 1)], "quantifier": "any"},
        "yes_no",
    ),
    (
        "Do neither the mug nor the kettle have a spout?",
        2,
        {"op": "exists", "part": "spout", "of": [_leaf("mug", 0), _leaf("kettle", 1)], "quantifier": "none"},
        "yes_no",
    ),
    (
        "How many legs does the stool have?",
        1,
        {"op": "count", "part": "leg", "of": _leaf("stool", 0)},
        "count",
    ),
    (
        "Which object in image 2 has a spout?",
        2,
        {"op": "part_to_whole", "part": "spout", "images": [1]},
        "objects",
    ),
    (
        "Which object has a spout, the mug in image 1 or the kettle in image 2?",
        2,
        {"op": "which", "part": "spout", "candidates": [_leaf("mug", 0), _leaf("kettle", 1)]},
        "objects",
    ),
]


@pytest.mark.parametrize("question, n, expr, returns", CASES)
def test_new_question_kinds_are_planned(question: str, n: int, expr: dict, returns: str) -> None:
    plan = OfflinePlanner().plan(question, IMAGES[:n])
    assert plan.to_gold_format() == {"expr": expr, "returns": returns}
    check_plan(plan, n)  # and the plan passes the checks hosted plans get


def test_set_questions_starting_with_does_stay_set_questions() -> None:
    plan = OfflinePlanner().plan("Does the chair have any parts that the stool lacks?", IMAGES)
    assert plan.expr_dict()["op"] == "difference"


def test_count_without_one_named_object_is_refused() -> None:
    with pytest.raises(QuestionError, match="name one object"):
        OfflinePlanner().plan("How many legs do the chair and the stool have?", IMAGES)
