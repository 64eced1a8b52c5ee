"""ground(): which rule grounds which phrase, explicit vocabularies, embedding threshold, negatives."""

from __future__ import annotations

import pytest

from mereo.errors import ValidationError
from mereo.knowledge import Grounding, ground
from mereo.knowledge.grounding import DEFAULT_THRESHOLD, nearest

PARTS = [
    "arm",
    "back",
    "footrest",
    "leg",
    "seat",
    "seat cushion",
    "wheel",
    "tire",
    "knob",
    "windshield",
    "shade",
]
OBJECTS = ["airplane", "cat", "chair", "chest of drawers", "cup", "dog", "stool", "television receiver"]


@pytest.mark.parametrize(
    ("phrase", "term", "rule"),
    [
        ("leg", "leg", "exact"),
        (" Leg ", "leg", "exact"),
        ("legs", "leg", "lemma"),
        ("Legs", "leg", "lemma"),
        ("the legs", "leg", "lemma"),
        ("chair leg", "leg", "head"),
        ("the chair's legs", "leg", "head"),
        ("legs of the chair", "leg", "head"),
        ("front left leg", "leg", "head"),
        ("tyres", "tire", "synonym"),
        ("windscreen", "windshield", "synonym"),
        ("armrest", "arm", "synonym"),
        ("backrest", "back", "synonym"),
        ("seat cushion", "seat cushion", "exact"),
        ("seat cushions", "seat cushion", "lemma"),
        ("car tyres", "tire", "head"),
        ("doorknob", "knob", "head"),
        ("lampshade", "shade", "head"),
    ],
)
def test_part_phrases_ground_lexically(phrase, term, rule):
    g = ground(phrase, kind="part", vocabulary=PARTS, threshold=None)
    assert isinstance(g, Grounding)
    assert (g.term, g.rule) == (term, rule)
    assert 0.0 < g.score <= 1.0 and g.phrase == phrase


@pytest.mark.parametrize(
    ("phrase", "term", "rule"),
    [
        ("chairs", "chair", "lemma"),
        ("aeroplane", "airplane", "synonym"),
        ("tv", "television receiver", "synonym"),
        ("office chair", "chair", "head"),
        ("chests of drawers", "chest of drawers", "lemma"),
        ("teacup", "cup", "head"),
        ("a Stool", "stool", "lemma"),
    ],
)
def test_object_phrases_ground_lexically(phrase, term, rule):
    g = ground(phrase, kind="object", vocabulary=OBJECTS, threshold=None)
    assert g is not None and (g.term, g.rule) == (term, rule)


def test_rules_rank_exact_above_looser_matches():
    exact = ground("leg", vocabulary=PARTS, threshold=None)
    lemma = ground("legs", vocabulary=PARTS, threshold=None)
    head = ground("chair legs", vocabulary=PARTS, threshold=None)
    assert exact and lemma and head and exact.score > lemma.score > head.score


def test_kind_of_is_reported():
    g = ground("seat cushion", vocabulary=PARTS, threshold=None)
    assert g is not None and g.term == "seat cushion" and g.broader == "seat"
    g = ground("leg", vocabulary=PARTS, threshold=None)
    assert g is not None and g.broader is None


def test_synonym_reaches_a_variant_spelling_in_the_vocabulary():
    g = ground("tires", vocabulary=["tyre", "rim"], threshold=None)
    assert g is not None and (g.term, g.rule) == ("tyre", "synonym")


def test_default_vocabulary_is_the_knowledge_base():
    g = ground("The chair's legs", threshold=None)
    assert g is not None and g.term == "leg"
    g = ground("aeroplanes", kind="object", threshold=None)
    assert g is not None and g.term == "airplane"
    assert ground("bananas", kind="part", threshold=None) is None


def test_lexical_misses_return_none_without_a_model():
    assert ground("the thing you sit on", vocabulary=PARTS, threshold=None) is None
    assert ground("", vocabulary=PARTS) is None
    assert ground("leg", vocabulary=[]) is None


def test_bad_arguments_are_validation_errors():
    with pytest.raises(ValidationError):
        ground("leg", kind="animal")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ground(3, kind="part")  # type: ignore[arg-type]


# -- embedding rule (loads the offline MiniLM once) -----------------------------------------------


def test_embedding_grounds_paraphrases_above_the_threshold():
    g = ground("foot rest", vocabulary=PARTS)
    assert g is not None and (g.term, g.rule) == ("footrest", "embedding") and g.score >= DEFAULT_THRESHOLD
    g = ground("kitty", kind="object", vocabulary=OBJECTS)
    assert g is not None and (g.term, g.rule) == ("cat", "embedding")
    g = ground("puppy", kind="object")
    assert g is not None and g.term == "dog"


@pytest.mark.parametrize(
    ("phrase", "kind"), [("banana", "part"), ("banana", "object"), ("democracy", "part"), ("giraffe", "part")]
)
def test_unrelated_words_do_not_ground(phrase, kind):
    assert ground(phrase, kind=kind) is None


def test_threshold_controls_the_embedding_rule():
    best_term, best_sim = nearest("kitty", OBJECTS, k=1)[0]
    assert best_term == "cat"
    assert ground("kitty", kind="object", vocabulary=OBJECTS, threshold=best_sim + 0.01) is None
    assert ground("kitty", kind="object", vocabulary=OBJECTS, threshold=best_sim - 0.01) is not None
    sims = [s for _, s in nearest("banana", PARTS, k=len(PARTS))]
    assert sims == sorted(sims, reverse=True) and max(sims) < DEFAULT_THRESHOLD
