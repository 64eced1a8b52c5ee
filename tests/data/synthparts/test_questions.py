"""SynthParts questions: gold answers follow from the visible masks and the taxonomy."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.data.items import QUESTION_TYPES
from mereo.data.synthparts import generate_scenes
from mereo.data.synthparts.phrasing import MULTISTEP, PHRASINGS, choices, mutate
from mereo.data.synthparts.questions import PAIR_TYPES, PARTONOMY_TYPES, evaluate, kb_parts, make_questions
from mereo.errors import DatasetError
from mereo.knowledge import PartHierarchy


@pytest.fixture(scope="module")
def scenes():
    return list(generate_scenes("test", 30, seed=2, size=96))


def _objects(item):
    """The named object of each image, from the gold plan's ``parts`` nodes."""
    found: dict[int, str] = {}

    def walk(e):
        if e.get("op") == "parts":
            found[e["image"]] = e["object"]
        for a in e.get("args", []):
            walk(a)

    walk(item.gold_plan["expr"])
    return found


def _scene_of(item, scenes):
    by_uid = {s.uid: s for s in scenes}
    return [by_uid[im.image_id] for im in item.images]


def test_partonomy_items(scenes):
    items = make_questions(scenes, "partonomy", seed=0, per_image=5)
    assert {it.question_type for it in items} == set(PARTONOMY_TYPES)
    assert len({it.id for it in items}) == len(items)
    kb = PartHierarchy.default()
    for it in items:
        assert it.question_type in QUESTION_TYPES and it.suite == "partonomy" and len(it.images) == 1
        assert it.gold_labels and it.gold_labels == sorted(set(it.gold_labels))
        assert len(it.answer_choices) == 5 and it.answer_types.count("correct") == 1
        assert sorted(it.answer_parts[it.answer_types.index("correct")]) == it.gold_labels
        assert len({tuple(p) for p in it.answer_parts}) == 5
        scene = _scene_of(it, scenes)[0]
        if it.question_type == "part_to_whole":
            part = it.gold_plan["expr"]["part"]
            assert it.gold_labels == sorted({o.category for o in scene.objects if part in o.visible_parts()})
            assert all(m.kind == "object" for m in it.gold_masks)
            continue
        obj = next(o for o in scene.objects if o.category == _objects(it).get(0, scene.objects[0].category))
        visible = set(obj.visible_parts())
        if it.question_type in ("identification", "whole_to_part"):
            assert set(it.gold_labels) == visible
        elif it.question_type == "intersection":
            assert set(it.gold_labels) == visible & set(kb.parts_of(it.other_object))
            assert it.other_object in it.question
        else:
            assert set(it.gold_labels) == visible - set(kb.parts_of(it.other_object))
        for m in it.gold_masks:  # one non-empty mask per answer part, equal to the scene's part mask
            assert m.kind == "part" and m.object == obj.category
            assert np.array_equal(m.mask.to_numpy(), obj.part_mask(m.label)) and m.mask.area > 0
        assert sorted(m.label for m in it.gold_masks) == it.gold_labels


def test_pairs_items(scenes):
    items = make_questions(scenes, "pairs", seed=1, per_image=3)
    assert {it.question_type for it in items} == set(PAIR_TYPES)
    for it in items:
        assert len(it.images) == 2 and it.gold_labels
        a, b = _scene_of(it, scenes)
        assert a.uid != b.uid
        if it.question_type == "common_objects":
            common = {o.category for o in a.objects} & {o.category for o in b.objects}
            assert set(it.gold_labels) == common
            continue
        names = _objects(it)
        pa = set(next(o for o in a.objects if o.category == names[0]).visible_parts())
        pb = set(next(o for o in b.objects if o.category == names[1]).visible_parts())
        expected = pa & pb if it.question_type == "common_parts" else pa ^ pb
        assert set(it.gold_labels) == expected
        for m in it.gold_masks:
            side = pa if m.image_index == 0 else pb
            assert m.label in side and m.mask.area > 0


def test_multistep_items_compose_operations(scenes):
    items = make_questions(scenes, "multistep", seed=3, per_image=2)
    kinds = {it.gold_plan["composition"] for it in items}
    assert kinds == set(MULTISTEP)
    for it in items:
        imgs = _scene_of(it, scenes)
        names = _objects(it)
        focus = [next(o for o in s.objects if o.category == names[i]) for i, s in enumerate(imgs)]
        assert set(it.gold_labels) == evaluate(it.gold_plan["expr"], imgs, focus)
        depth = str(it.gold_plan["expr"]).count("'op'")
        assert depth >= 4  # at least two set operations over at least two operands
        assert {m.image_index for m in it.gold_masks} <= set(range(len(it.images)))
        assert all(m.label in it.gold_labels for m in it.gold_masks)


def test_questions_are_deterministic_and_phrased_variously(scenes):
    a = make_questions(scenes, "partonomy", seed=5, per_image=2)
    b = make_questions(scenes, "partonomy", seed=5, per_image=2)
    assert [x.model_dump() for x in a] == [y.model_dump() for y in b]
    templates = {
        it.question.replace(_objects(it)[0], "{obj}") for it in a if it.question_type == "identification"
    }
    assert len(templates) >= 2
    assert all(len(v) >= 3 for v in PHRASINGS.values())


def test_distractors_are_small_edits():
    rng = np.random.default_rng(0)
    gold = ["leg", "seat"]
    for _ in range(50):
        d = mutate(rng, gold, ["arm", "back", "leg", "seat", "wheel"])
        assert d != [] and len(set(d) ^ set(gold)) <= 4
    lists, types = choices(rng, gold, ["arm", "back", "leg", "seat"])
    assert lists[types.index("correct")] == gold and len(lists) == 5


def test_kb_parts_and_errors(scenes):
    assert {"leg", "seat"} <= set(kb_parts("stool"))
    with pytest.raises(DatasetError):
        make_questions(scenes[:2], "trivia")
    with pytest.raises(DatasetError):
        make_questions(scenes[:2], "pairs", paths=["a.png"])


def test_object_answers_have_each_object_mask_once():
    """part_to_whole gold: one mask per object of an answer category, even when two share it."""
    twins = [
        s
        for s in generate_scenes("test", 300, seed=0, size=96)
        if len({o.category for o in s.objects}) < len(s.objects)
    ]
    assert twins, "no scene with two objects of one category in 300 test scenes"
    items = [
        i
        for i in make_questions(twins, "partonomy", seed=0, per_image=5)
        if i.gold_plan["returns"] == "objects"
    ]
    assert items
    by_uid = {s.uid: s for s in twins}
    for item in items:
        scene = by_uid[item.images[0].image_id]
        keys = [(m.image_index, m.label, m.mask.counts) for m in item.gold_masks]
        assert len(keys) == len(set(keys)), item.question
        expected = sum(o.category in item.gold_labels for o in scene.objects)
        assert len(item.gold_masks) == expected
