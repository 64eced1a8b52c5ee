"""Yes/no and count accuracy, could-not-find rates, and calibration error."""

from __future__ import annotations

import math

import numpy as np

from mereo.metrics.answers import (
    count_correct,
    expected_calibration_error,
    reliability_bins,
    said_not_found,
    yes_no_correct,
)


def test_direct_answers() -> None:
    assert yes_no_correct(True, True) == 1.0 and yes_no_correct(None, False) == 0.0
    assert yes_no_correct(1, True) == 0.0  # a number is not a yes
    assert count_correct(3, 3) == 1.0 and count_correct(True, 1) == 0.0 and count_correct(None, 0) == 0.0


def test_could_not_find() -> None:
    assert said_not_found(["Sofa"], ["sofa"]) == 1.0
    assert said_not_found(["chair"], ["sofa"]) == 0.0
    assert said_not_found([], []) == 0.0 and said_not_found(["chair"]) == 1.0


def test_calibration_error() -> None:
    assert expected_calibration_error([1.0, 1.0, 0.0], [1, 1, 0]) == 0.0
    # all answers at 0.9 confidence, half of them right: ECE 0.4
    assert math.isclose(expected_calibration_error([0.9] * 4, [1, 0, 1, 0]), 0.4)
    rng = np.random.default_rng(0)
    conf = rng.random(20000)
    calibrated = (rng.random(20000) < conf).astype(float)
    assert expected_calibration_error(conf, calibrated) < 0.02
    bins = reliability_bins([0.05, 0.95, 1.0], [0, 1, 1], bins=10)
    assert bins[0].n == 1 and bins[9].n == 2 and math.isnan(bins[5].accuracy)
    assert math.isnan(expected_calibration_error([], []))
