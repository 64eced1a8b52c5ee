"""What a plan asks of the tools: images, the co-segmentation task, recognition, segment targets."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.agent.agent import PartAgent
from mereo.agent.needs import (
    check_plan_images,
    compares_images,
    coseg_task,
    named_objects,
    recognition_images,
    segment_targets,
    top_objects,
)
from mereo.agent.state import AgentContext
from mereo.errors import QuestionError
from mereo.plan import parse_plan
from mereo.types import ImageRef, Mask, PartMask

ORACLE = {"segment": "oracle", "coseg": "oracle", "correspond": "oracle", "recognize": "oracle"}


def _plan(expr: dict) -> object:
    returns = "objects" if expr["op"] in ("common_objects", "part_to_whole") else "parts"
    return parse_plan({"expr": expr, "returns": returns})


def _ctx(n_images: int, **options: object) -> AgentContext:
    agent = PartAgent(**{**ORACLE, **options})
    images = [ImageRef(np.full((32, 32, 3), 40 * k, np.uint8)) for k in range(n_images)]
    return AgentContext(agent.lmm, agent.tools, agent.tool_ctx, agent.kb, agent.config, images)


PAIR = {
    "op": "intersect",
    "args": [{"op": "parts", "object": "chair", "image": 0}, {"op": "parts", "object": "stool", "image": 1}],
}


def test_coseg_task_only_for_image_pairs_with_a_cosegmenter() -> None:
    common = _plan({"op": "common_objects", "images": [0, 1]})
    assert coseg_task(common, _ctx(2)) == "common_objects"
    assert coseg_task(common, _ctx(2, coseg="none")) is None
    assert coseg_task(_plan(PAIR), _ctx(2)) is None  # named objects: segmented, unless coseg_named
    assert coseg_task(_plan(PAIR), _ctx(2, coseg_named=True)) == "common_parts"
    assert coseg_task(_plan({**PAIR, "op": "difference"}), _ctx(2, coseg_named=True)) == "unique_parts"
    assert coseg_task(_plan({"op": "parts", "object": "chair", "image": 0}), _ctx(1)) is None


def test_recognition_and_segment_targets() -> None:
    whole = _plan({"op": "whole_to_part", "image": 1})
    assert recognition_images(whole, None) == {1: 1}
    common = _plan({"op": "common_objects", "images": [0, 1]})
    assert recognition_images(common, "common_objects") == {}
    assert recognition_images(common, None) == {0: 5, 1: 5}
    assert recognition_images(_plan(PAIR), None) == {}
    m = Mask.from_numpy(np.ones((4, 4), bool))
    rec = [
        PartMask(label="stool", object="stool", image_index=1, mask=m, score=0.4, kind="object"),
        PartMask(label="chair", object="chair", image_index=1, mask=m, score=0.9, kind="object"),
    ]
    assert top_objects(rec, 1, None) == ["chair", "stool"] and top_objects(rec, 1, 1) == ["chair"]
    assert segment_targets(whole, rec, 2) == ([("chair", 1)], [])
    assert segment_targets(_plan(PAIR), [], 2) == ([("chair", 0), ("stool", 1)], [])
    unplaced = _plan({"op": "parts", "object": "chair"})
    assert segment_targets(unplaced, [], 2) == ([("chair", 0), ("chair", 1)], [])
    assert named_objects(_plan(PAIR)) == [("chair", 0), ("stool", 1)] and named_objects(unplaced) == []
    assert compares_images(_plan(PAIR)) and not compares_images(whole)


def test_check_plan_images() -> None:
    check_plan_images(_plan(PAIR), 2)
    with pytest.raises(QuestionError, match="refers to image 2"):
        check_plan_images(_plan(PAIR), 1)
    with pytest.raises(QuestionError, match="refers to 2 image"):
        check_plan_images(_plan(PAIR), 3)
