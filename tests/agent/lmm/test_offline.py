"""The offline planner: SynthParts questions of every type and phrasing, follow-ups, clear refusals."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mereo.agent.lmm import build
from mereo.agent.lmm.offline import OfflinePlanner
from mereo.data.synthparts import generate_scenes
from mereo.data.synthparts.questions import make_questions
from mereo.errors import QuestionError, UnknownObjectError
from mereo.types import ImageRef

IMAGES = [ImageRef(np.full((16, 16, 3), k * 40, dtype=np.uint8)) for k in range(3)]


@pytest.fixture(scope="module")
def planner() -> OfflinePlanner:
    return OfflinePlanner()


@pytest.fixture(scope="module")
def items() -> list:
    scenes = list(generate_scenes("test", 16, seed=3))
    out = []
    for suite in ("partonomy", "pairs", "multistep"):
        out += make_questions(scenes, suite, seed=1, per_image=2)
    return out


def test_plans_match_the_gold_plans_of_every_question_type(planner: OfflinePlanner, items: list) -> None:
    types = Counter(it.question_type for it in items)
    assert len(types) == 9, types  # every SynthParts question type is drawn
    wrong = []
    for it in items:
        plan = planner.plan(it.question, IMAGES[: len(it.images)])
        if plan.to_gold_format()["expr"] != it.gold_plan["expr"] or plan.returns != it.gold_plan["returns"]:
            wrong.append((it.question, plan.expr_dict(), it.gold_plan["expr"]))
    assert len(wrong) <= 0.02 * len(items), wrong[:3]


@pytest.mark.parametrize(
    "question, expected",
    [
        (
            "Which parts do the chair and the stool share?",
            {
                "op": "intersect",
                "args": [
                    {"op": "parts", "object": "chair", "image": 0},
                    {"op": "parts", "object": "stool", "image": 1},
                ],
            },
        ),
        (
            "What does the Chairs in the first image have that the stool in the second image lacks?",
            {
                "op": "difference",
                "args": [
                    {"op": "parts", "object": "chair", "image": 0},
                    {"op": "parts", "object": "stool", "image": 1},
                ],
            },
        ),
        (
            "Which parts does the aeroplane in image 2 share with the bike in image 1?",
            {
                "op": "intersect",
                "args": [
                    {"op": "parts", "object": "airplane", "image": 1},
                    {"op": "parts", "object": "bicycle", "image": 0},
                ],
            },
        ),
    ],
)
def test_free_phrasings_synonyms_and_image_order(
    planner: OfflinePlanner, question: str, expected: dict
) -> None:
    assert planner.plan(question, IMAGES[:2]).expr_dict() == expected


def test_descriptions_for_the_span_tagger(planner: OfflinePlanner) -> None:
    plan = planner.plan("What visible parts does the chair in the image have?", IMAGES[:1])
    assert plan.objects[0].name == "chair" and plan.objects[0].image == 0
    assert plan.objects[0].description.startswith("The chair has ")


def test_follow_up_uses_the_previous_answer(planner: OfflinePlanner) -> None:
    history = [{"question": "q", "labels": ["back", "leg", "seat"], "text": "t"}]
    plan = planner.plan("And which of those does the bench have?", IMAGES[:1], history)
    assert plan.expr_dict() == {
        "op": "intersect",
        "args": [
            {"op": "labels", "labels": ["back", "leg", "seat"]},
            {"op": "parts", "object": "bench", "image": 0},
        ],
    }


@pytest.mark.parametrize(
    "question",
    [
        "What colour is the sky?",
        "Tell me a joke about parts.",
        "",
    ],
)
def test_unparseable_questions_are_refused_clearly(planner: OfflinePlanner, question: str) -> None:
    with pytest.raises(QuestionError, match="could not parse"):
        planner.plan(question, IMAGES[:1])


def test_common_objects_needs_two_images(planner: OfflinePlanner) -> None:
    with pytest.raises(QuestionError, match="at least two images"):
        planner.plan("Which objects appear in both images?", IMAGES[:1])


def test_unknown_object_gets_parts_of_the_nearest_known_one_or_a_clear_error(planner: OfflinePlanner) -> None:
    plan = planner.plan("Which parts of the zorblax in image 1 does the chair in image 2 have?", IMAGES[:2])
    assert plan.expr_dict()["args"][0]["object"] == "zorblax"
    assert any("zorblax" in n for n in plan.notes)
    with pytest.raises(UnknownObjectError, match="zorblax"):
        planner.propose_parts("zorblax")
    assert "leg" in planner.propose_parts("armchairs")


def test_registry_builds_the_offline_planner() -> None:
    assert build("offline").name == "offline"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("What visible parts does the object in the image have?", {"op": "whole_to_part", "image": 0}),
        (
            "What visible parts does the object in the image have in common with a stool?",
            {
                "op": "intersect",
                "args": [{"op": "whole_to_part", "image": 0}, {"op": "kb_parts", "object": "stool"}],
            },
        ),
        (
            "What visible parts does the object in the image have which a table does not have?",
            {
                "op": "difference",
                "args": [{"op": "whole_to_part", "image": 0}, {"op": "kb_parts", "object": "table"}],
            },
        ),
        ("Find the object with a door in the image.", {"op": "part_to_whole", "part": "door", "images": [0]}),
    ],
)
def test_partonomy_core_templates_about_the_unnamed_object(
    planner: OfflinePlanner, question: str, expected: dict
) -> None:
    assert planner.plan(question, IMAGES[:1]).expr_dict() == expected


@pytest.mark.parametrize(
    ("question", "op"),
    [
        ("What are the common parts between the objects in (IMAGE1) and (IMAGE2)?", "intersect"),
        ("What are the unique parts of the objects in (IMAGE1) and (IMAGE2)?", "symmetric_difference"),
        ("What are the common parts of the object in (IMAGE1) and the object in (IMAGE2)?", "intersect"),
    ],
)
def test_mixedparts_questions_about_unnamed_objects(planner: OfflinePlanner, question: str, op: str) -> None:
    # MixedParts prompts name no object: one unnamed object per image, recognised, then compared
    plan = planner.plan(question, IMAGES[:2])
    expr = plan.to_gold_format()["expr"]
    leaves = [{"op": "whole_to_part", "image": 0}, {"op": "whole_to_part", "image": 1}]
    assert expr == {"op": op, "args": leaves}
    assert plan.returns == "parts"
    common = planner.plan("Which common objects appear in (IMAGE1) and (IMAGE2)?", IMAGES[:2])
    assert common.to_gold_format()["expr"] == {"op": "common_objects", "images": [0, 1]}
