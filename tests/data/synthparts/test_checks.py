"""The ``checks`` suite: yes/no, count, which and absent-object questions with gold answers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import ndimage

from mereo.data.synthparts.compose import generate_scenes
from mereo.data.synthparts.questions import make_questions


@pytest.fixture(scope="module")
def scenes() -> list:
    return list(generate_scenes("val", 40, 0, 96))


@pytest.fixture(scope="module")
def items(scenes: list) -> list:
    return make_questions(scenes, "checks", seed=0)


def test_every_type_is_made_and_gold_answers_fit_the_scenes(items: list, scenes: list) -> None:
    by_uid = {s.uid: s for s in scenes}
    kinds = Counter(it.question_type for it in items)
    assert set(kinds) == {"exists", "count", "which", "absent"} and min(kinds.values()) >= 5
    for it in items:
        scene = by_uid[it.images[0].image_id]
        expr = it.gold_plan["expr"]
        if it.question_type == "absent":
            assert it.absent_objects and it.absent_objects[0] not in {o.category for o in scene.objects}
            assert it.gold_labels == [] and it.gold_value is None
        elif it.question_type == "count":
            assert it.gold_value == len(it.gold_masks) >= 1
            merged = np.logical_or.reduce([m.mask.to_numpy() for m in it.gold_masks])
            assert ndimage.label(merged)[1] == it.gold_value  # one connected piece per instance
        elif it.question_type == "exists":
            assert isinstance(it.gold_value, bool)
            has = [expr["part"] in it.images[k].parts_of(leaf["object"]) for k, leaf in enumerate(expr["of"])]
            want = {"all": all(has), "any": any(has), "none": not any(has)}[expr["quantifier"]]
            assert it.gold_value == want
        else:
            having = [
                leaf["object"]
                for k, leaf in enumerate(expr["candidates"])
                if expr["part"] in it.images[k].parts_of(leaf["object"])
            ]
            assert it.gold_labels == sorted(having)


def test_generation_is_deterministic(scenes: list, items: list) -> None:
    again = make_questions(scenes, "checks", seed=0)
    assert [(a.question, a.gold_value) for a in again] == [(a.question, a.gold_value) for a in items]


def test_the_offline_planner_reads_every_checks_question(items: list) -> None:
    from mereo.agent.lmm.offline import OfflinePlanner
    from mereo.metrics import plan_match
    from mereo.types import ImageRef

    planner = OfflinePlanner()
    refs = [ImageRef(np.zeros((16, 16, 3), dtype=np.uint8)), ImageRef(np.ones((16, 16, 3), dtype=np.uint8))]
    for it in items:
        plan = planner.plan(it.question, refs[: len(it.images)])
        assert plan_match(plan.to_gold_format(), it.gold_plan) == 1.0, it.question
