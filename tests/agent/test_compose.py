"""The set-expression interpreter over labelled masks."""

from __future__ import annotations

import numpy as np

from mereo.agent.compose import evaluate
from mereo.agent.evidence import Evidence
from mereo.plan import parse_expr
from mereo.types import Mask, PartMask


def _pm(label: str, obj: str, image: int, box: tuple[int, int, int, int], kind: str = "part") -> PartMask:
    m = np.zeros((16, 16), dtype=bool)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = True
    return PartMask(label=label, object=obj, image_index=image, mask=Mask.from_numpy(m), kind=kind)


def _evidence() -> Evidence:
    chair = [
        _pm("seat", "chair", 0, (0, 4, 0, 4)),
        _pm("leg", "chair", 0, (4, 8, 0, 4)),
        _pm("back", "chair", 0, (8, 12, 0, 4)),
    ]
    stool = [
        _pm("seat", "stool", 1, (0, 4, 0, 4)),
        _pm("leg", "stool", 1, (4, 8, 0, 4)),
        _pm("footrest", "stool", 1, (8, 12, 0, 4)),
    ]
    objects = {
        0: [_pm("chair", "chair", 0, (0, 12, 0, 4), "object")],
        1: [_pm("stool", "stool", 1, (0, 12, 0, 4), "object")],
    }
    kb = {"table": ["leg", "top"], "bed": ["leg", "headboard"]}
    return Evidence(
        parts={(0, "chair"): chair, (1, "stool"): stool}, objects=objects, kb_parts=lambda o: kb.get(o, [])
    )


def _run(expr: dict, ev: Evidence | None = None):
    return evaluate(parse_expr(expr), ev or _evidence())


A = {"op": "parts", "object": "chair", "image": 0}
B = {"op": "parts", "object": "stool", "image": 1}


def test_intersect_keeps_the_shared_parts_masks_in_every_image() -> None:
    r = _run({"op": "intersect", "args": [A, B]})
    assert r.value.labels == ["leg", "seat"]
    assert sorted((m.label, m.image_index) for m in r.value.all_masks()) == [
        ("leg", 0),
        ("leg", 1),
        ("seat", 0),
        ("seat", 1),
    ]


def test_difference_returns_the_first_sets_masks_only() -> None:
    r = _run({"op": "difference", "args": [A, B]})
    assert r.value.labels == ["back"]
    assert {m.image_index for m in r.value.all_masks()} == {0}


def test_symmetric_difference_and_union() -> None:
    assert _run({"op": "symmetric_difference", "args": [A, B]}).value.labels == ["back", "footrest"]
    assert _run({"op": "union", "args": [A, B]}).value.labels == ["back", "footrest", "leg", "seat"]


def test_nested_with_knowledge_base_parts() -> None:
    expr = {
        "op": "difference",
        "args": [{"op": "intersect", "args": [A, B]}, {"op": "kb_parts", "object": "table"}],
    }
    assert _run(expr).value.labels == ["seat"]
    expr = {"op": "intersect", "args": [A, {"op": "union", "args": [B, {"op": "kb_parts", "object": "bed"}]}]}
    assert _run(expr).value.labels == ["leg", "seat"]


def test_object_level_operations_return_object_masks() -> None:
    r = _run({"op": "part_to_whole", "part": "footrest", "images": [0, 1]})
    assert r.value.labels == ["stool"] and r.value.kind == "objects"
    assert [m.kind for m in r.value.all_masks()] == ["object"]
    r = _run({"op": "whole_to_part", "image": 0})
    assert r.value.labels == ["back", "leg", "seat"]
    ev = _evidence()
    ev.objects[1].append(_pm("chair", "chair", 1, (12, 16, 0, 4), "object"))
    r = evaluate(parse_expr({"op": "common_objects", "images": [0, 1]}), ev)
    assert r.value.labels == ["chair"] and len(r.value.masks["chair"]) == 2


def test_features_that_disagree_drop_a_shared_name_and_renamed_matches_are_reported() -> None:
    ev = _evidence()
    key = lambda i, o, label: (i, o, label)  # noqa: E731
    pairs = {
        (key(0, "chair", "seat"), key(1, "stool", "seat")): 0.9,
        (key(0, "chair", "leg"), key(1, "stool", "leg")): 0.1,
        (key(0, "chair", "back"), key(1, "stool", "footrest")): 0.8,
    }
    for (a, b), s in pairs.items():
        ev.similarity[(a, b)] = ev.similarity[(b, a)] = s
    r = evaluate(parse_expr({"op": "intersect", "args": [A, B]}), ev)
    assert r.value.labels == ["seat"]
    assert any("'leg'" in n and "disagree" in n for n in r.notes)
    assert [(m["a"]["label"], m["b"]["label"]) for m in r.renamed_matches] == [("back", "footrest")]


def test_missing_object_gives_an_empty_set_and_a_note() -> None:
    r = _run({"op": "parts", "object": "sofa", "image": 0})
    assert r.value.labels == [] and "no parts of a sofa" in r.notes[0]


def _legs() -> Evidence:
    """The stool's 'leg' mask holds three separate legs (one mask for the label, as segmenters give)."""
    ev = _evidence()
    m = np.zeros((16, 16), dtype=bool)
    m[10:16, 1:3] = m[10:16, 6:8] = m[10:16, 12:14] = True
    ev.parts[(1, "stool")] = [
        PartMask(label="leg", object="stool", image_index=1, mask=Mask.from_numpy(m)),
        _pm("seat", "stool", 1, (0, 4, 0, 4)),
    ]
    return ev


def test_count_splits_the_part_mask_into_instances() -> None:
    r = _run({"op": "count", "part": "leg", "of": B}, _legs())
    assert r.scalar == 3 and r.value.kind == "count"
    assert [m.mask.area for m in r.value.masks["leg"]] == [12, 12, 12]
    assert _run({"op": "count", "part": "wheel", "of": B}, _legs()).scalar == 0


def test_exists_quantifiers() -> None:
    def yes(part: str, quantifier: str) -> bool | int | None:
        return _run({"op": "exists", "part": part, "of": [A, B], "quantifier": quantifier}).scalar

    assert (yes("seat", "all"), yes("back", "all"), yes("back", "any"), yes("wheel", "any")) == (
        True,
        False,
        True,
        False,
    )
    assert (yes("wheel", "none"), yes("back", "none")) == (True, False)
    r = _run({"op": "exists", "part": "back", "of": [A, B], "quantifier": "all"})
    assert r.per_object == {"chair": True, "stool": False} and r.value.labels == ["back"]


def test_which_gives_the_candidates_with_the_part_as_object_masks() -> None:
    r = _run({"op": "which", "part": "footrest", "candidates": [A, B]})
    assert r.value.labels == ["stool"] and r.value.kind == "objects"
    assert r.per_object == {"chair": False, "stool": True}


def test_a_presupposed_part_no_object_kept_falls_back_to_the_likeliest_dropped_guess() -> None:
    ev = _evidence()
    guess = _pm("wheel", "chair", 0, (12, 14, 0, 4)).model_copy(update={"score": 0.3, "guess": True})
    weaker = _pm("wheel", "stool", 1, (12, 14, 0, 4)).model_copy(update={"score": 0.1, "guess": True})
    ev.doubtful = {(0, "chair"): [guess], (1, "stool"): [weaker]}
    r = evaluate(parse_expr({"op": "which", "part": "wheel", "candidates": [A, B]}), ev)
    assert r.value.labels == ["chair"] and r.per_object == {"chair": True, "stool": False}
    assert len(r.caveats) == 1 and "best guess" in r.caveats[0] and "0.30" in r.caveats[0]
    assert r.caveats[0] in r.notes
    r = evaluate(parse_expr({"op": "part_to_whole", "part": "wheel", "images": [0, 1]}), ev)
    assert r.value.labels == ["chair"] and [m.kind for m in r.value.all_masks()] == ["object"]
    # a part some object kept answers as before; doubtful guesses are not read
    r = evaluate(parse_expr({"op": "which", "part": "footrest", "candidates": [A, B]}), ev)
    assert r.value.labels == ["stool"] and not r.notes and not r.caveats
    # yes/no and part lists never read them: "does the chair have a wheel?" stays no
    assert (
        evaluate(parse_expr({"op": "exists", "part": "wheel", "of": [A], "quantifier": "all"}), ev).scalar
        is False
    )
    assert "wheel" not in evaluate(parse_expr(A), ev).value.labels
    ev.absent = {(0, "chair")}  # an object not found gives no guess
    assert evaluate(
        parse_expr({"op": "part_to_whole", "part": "wheel", "images": [0, 1]}), ev
    ).value.labels == ["stool"]


def test_an_absent_object_has_no_parts_and_leaves_the_answer_open() -> None:
    ev = _evidence()
    ev.absent = {(1, "stool")}
    assert _run({"op": "intersect", "args": [A, B]}, ev).value.labels == []
    assert _run({"op": "exists", "part": "seat", "of": [A, B], "quantifier": "all"}, ev).scalar is None
    assert _run({"op": "exists", "part": "seat", "of": [A, B], "quantifier": "any"}, ev).scalar is True
    assert _run({"op": "count", "part": "leg", "of": B}, ev).scalar is None
