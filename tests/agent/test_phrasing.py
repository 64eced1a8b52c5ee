"""Answer sentences of yes/no, count and which questions, and of objects that were not found."""

from __future__ import annotations

from mereo.agent.phrasing import answer_text, plural
from mereo.plan import parse_plan

BIRD = {"op": "parts", "object": "bird", "image": 0}
MUG = {"op": "parts", "object": "mug", "image": 0}
KETTLE = {"op": "parts", "object": "kettle", "image": 1}


def _text(expr: dict, returns: str, n: int, **kw: object) -> str:
    return answer_text(parse_plan({"expr": expr, "returns": returns}), [], {}, n_images=n, **kw)  # type: ignore[arg-type]


def test_yes_no_answers() -> None:
    one = {"op": "exists", "part": "beak", "of": [BIRD], "quantifier": "all"}
    assert _text(one, "yes_no", 1, scalar=True, per_object={"bird": True}) == "Yes: the bird has a beak."
    assert (
        _text(one, "yes_no", 1, scalar=False, per_object={"bird": False})
        == "No: the bird has no visible beak."
    )
    both = {"op": "exists", "part": "handle", "of": [MUG, KETTLE], "quantifier": "all"}
    assert (
        _text(both, "yes_no", 2, scalar=True, per_object={"mug": True, "kettle": True})
        == "Yes: the mug in image 1 and the kettle in image 2 both have a handle."
    )
    either = {"op": "exists", "part": "spout", "of": [MUG, KETTLE], "quantifier": "any"}
    assert (
        _text(either, "yes_no", 2, scalar=False, per_object={"mug": False, "kettle": False})
        == "No: neither the mug in image 1 nor the kettle in image 2 has a spout."
    )


def test_count_and_which_answers() -> None:
    count = {"op": "count", "part": "leg", "of": {"op": "parts", "object": "stool", "image": 0}}
    assert _text(count, "count", 1, scalar=3) == "The stool has 3 legs."
    assert _text(count, "count", 1, scalar=1) == "The stool has 1 leg."
    assert _text(count, "count", 1, scalar=0) == "The stool has no visible legs."
    which = {"op": "which", "part": "spout", "candidates": [MUG, KETTLE]}
    assert (
        _text(which, "objects", 2, per_object={"mug": False, "kettle": True})
        == "The kettle in image 2 has a spout."
    )
    guessed = _text(which, "objects", 2, per_object={"mug": False, "kettle": True}, guessed=True)
    assert guessed == "The kettle in image 2 probably has a spout."  # a best guess says so
    p2w = parse_plan({"expr": {"op": "part_to_whole", "part": "spout", "images": [0]}, "returns": "objects"})
    assert answer_text(p2w, ["kettle"], {}, n_images=1) == "The kettle has a spout."
    assert answer_text(p2w, ["kettle"], {}, n_images=1, guessed=True) == "The kettle probably has a spout."
    assert plural("body") == "bodies" and plural("brush") == "brushes" and plural("back rest") == "back rests"


def test_an_object_not_found_is_said_instead_of_a_guess() -> None:
    count = {"op": "count", "part": "leg", "of": {"op": "parts", "object": "sofa", "image": 0}}
    text = _text(count, "count", 1, scalar=None, missing=["I could not find a sofa in image 1."])
    assert text == "I could not find a sofa in image 1."
