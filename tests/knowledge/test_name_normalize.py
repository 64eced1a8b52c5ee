"""normalize(): case, articles, punctuation, possessives and plural head nouns."""

from __future__ import annotations

import pytest

from mereo.knowledge.normalize import normalize, singularize


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("legs", "leg"),
        ("Legs", "leg"),
        ("wheels", "wheel"),
        ("feet", "foot"),
        ("teeth", "tooth"),
        ("leaves", "leaf"),
        ("knives", "knife"),
        ("shelves", "shelf"),
        ("valves", "valve"),
        ("keys", "key"),
        ("batteries", "battery"),
        ("boxes", "box"),
        ("benches", "bench"),
        ("brushes", "brush"),
        ("glasses", "glass"),
        ("bases", "base"),
        ("shoes", "shoe"),
        ("logos", "logo"),
        ("people", "person"),
        ("bus", "bus"),
        ("buses", "bus"),
        ("glass", "glass"),
        ("pass", "pass"),
        ("scissors", "scissors"),
        ("pliers", "pliers"),
        ("sheep", "sheep"),
        ("cactus", "cactus"),
        ("iris", "iris"),
        ("ox", "ox"),
        ("The Chair's Legs!", "chair leg"),
        ("a stool", "stool"),
        ("the  seat-cushion ", "seat cushion"),
        ("landing_gear", "landing gear"),
        ("chests of drawers", "chest of drawers"),
        ("legs of the chair", "leg of the chair"),
        ("lower bristles", "lower bristle"),
        ("", ""),
        ("...", ""),
    ],
)
def test_normalize(text, want):
    assert normalize(text) == want


def test_normalize_is_idempotent():
    for text in ["The Chair's Legs!", "chests of drawers", "glasses", "teeth", "Seat Cushions"]:
        once = normalize(text)
        assert normalize(once) == once


def test_singularize_leaves_singulars_alone():
    for word in ["leg", "seat", "wheel", "arm", "class", "lens", "gas", "tennis"]:
        assert singularize(word) == word
