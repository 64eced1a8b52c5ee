"""The one multiple-choice chooser (the agent's and the eval baselines')."""

from __future__ import annotations

import pytest

from mereo.agent.choice import choice_labels, choose, jaccard
from mereo.errors import QuestionError
from mereo.knowledge import PartHierarchy


@pytest.fixture(scope="module")
def kb() -> PartHierarchy:
    return PartHierarchy.default()


def test_choice_labels_read_the_list_after_the_colon_or_known_names(kb: PartHierarchy) -> None:
    assert choice_labels("The airplane has the following visible parts: Wings, tail, and propeller.", kb) == {
        "wing",
        "tail",
        "propeller",
    }
    assert choice_labels("It has none: nothing.", kb) == set()
    assert {"seat", "wheel"} <= choice_labels("it has a seat and a wheel", kb)


def test_choose_by_overlap_with_the_choice_texts_or_given_part_lists(kb: PartHierarchy) -> None:
    choices = ["parts: arm.", "parts: seat.", "parts: leg, seat."]
    assert choose(["seat", "leg"], choices, kb) == 2
    assert (
        choose(["seat", "leg"], ["a", "b", "c"], kb, answer_parts=[["arm"], ["seat"], ["leg", "seat"]]) == 2
    )
    assert choose(["wheel"], ["it has a seat", "it has a wheel"], kb) == 1
    assert jaccard(set(), set()) == 1.0 and jaccard({"a"}, {"a", "b"}) == 0.5


def test_ties_go_to_the_first_or_the_closest_embedding(kb: PartHierarchy) -> None:
    parts = [["arm"], ["seat"], ["wheel"]]
    texts = ["parts: arm.", "parts: seat.", "parts: wheel."]
    # no overlap anywhere: a three-way tie
    assert choose(["leg"], texts, kb, answer_parts=parts, ties="first") == 0
    # the embedding breaks it; whichever it picks, it is one of the tied choices and deterministic
    picked = choose(["leg"], texts, kb, answer_parts=parts)
    assert picked in (0, 1, 2) and picked == choose(["leg"], texts, kb, answer_parts=parts)
    # a tie (one shared part each) goes to the choice text closest to the labels' ("arm, seat")
    tied = [["arm", "leg"], ["seat", "wheel"]]
    texts = ["propeller, wing and cockpit", "arm, seat"]
    assert choose(["seat", "arm"], texts, kb, answer_parts=tied, ties="first") == 0
    assert choose(["seat", "arm"], texts, kb, answer_parts=tied) == 1


def test_no_choices_is_a_question_error(kb: PartHierarchy) -> None:
    with pytest.raises(QuestionError, match="at least one choice"):
        choose(["seat"], [], kb)
