"""The metrics' label key against Mereo's name normaliser, and greedy matching."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.knowledge import canonical
from mereo.metrics import casefold_label
from mereo.metrics.common import greedy_match, mean


@pytest.mark.parametrize(
    ("name", "folded", "canon"),
    [
        ("Back_Rest ", "back rest", "back"),  # a synonym of "back"
        ("  SEAT  cushion", "seat cushion", "seat cushion"),
        ("Legs", "legs", "leg"),  # the benchmarks count "legs" vs "leg" as a miss
        ("tyres", "tyres", "tire"),  # no synonyms either
        ("the wheel", "the wheel", "wheel"),
        ("chair:leg", "chair:leg", "chair leg"),  # punctuation kept (S-IoU splits it itself)
    ],
)
def test_casefold_label_only_folds_case_and_spaces(name: str, folded: str, canon: str):
    assert casefold_label(name) == folded
    assert canonical(name) == canon
    # on canonical names (what loaders and the agent produce) both keys agree
    assert casefold_label(canonical(name)) == canonical(name)


def test_greedy_match_takes_the_best_pairs_once():
    m = np.array([[0.9, 0.8], [0.7, 0.0]])
    assert greedy_match(m, stop_at_zero=False) == [(0, 0), (1, 1)]
    assert greedy_match(m, stop_at_zero=True) == [(0, 0)]
    assert mean([]) != mean([])  # NaN for nothing
    assert mean([], empty=0.0) == 0.0
