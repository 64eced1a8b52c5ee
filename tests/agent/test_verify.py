"""Verification checks: presence scores, part thresholds, regions, confidence."""

from __future__ import annotations

import numpy as np

from mereo.agent.verify import (
    Calibration,
    check_parts,
    dropped_guesses,
    mask_probability,
    platt,
    presence_features,
    presence_score,
    raw_confidence,
)
from mereo.types import Mask, PartMask


def _pm(label: str, box: tuple[int, int, int, int], score: float = 0.9) -> PartMask:
    m = np.zeros((20, 20), dtype=bool)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = True
    return PartMask(label=label, object="stool", mask=Mask.from_numpy(m), score=score)


def test_presence_features_and_the_plain_rule() -> None:
    parts = [_pm("seat", (0, 4, 0, 10), 0.8), _pm("leg", (4, 10, 0, 2), 0.4)]
    f = presence_features("stool", [("chair", 0.9), ("stool", 0.3)], parts, expected=4, image_area=400)
    assert f == {"det": 0.3, "smax": 0.8, "smean": 0.6000000000000001, "sarea": 52 / 400, "sfrac": 0.5}
    score, threshold, calibrated = presence_score(f, None)
    assert (score, threshold, calibrated) == (0.8, 0.5, False)
    none = presence_features("sofa", [("chair", 0.9)], [], expected=4, image_area=400)
    assert presence_score(none, None)[0] == 0.0


def test_a_calibrated_presence_model_is_a_logistic_over_standardised_features() -> None:
    model = {
        "features": ["det", "smax", "smean", "sarea", "sfrac"],
        "weights": [0.0, 2.0, 0.0, 0.0, 0.0],
        "bias": 0.0,
        "mean": [0, 0.5, 0, 0, 0],
        "std": [1, 0.25, 1, 1, 1],
        "threshold": 0.7,
    }
    f = {"det": 0.0, "smax": 0.75, "smean": 0.0, "sarea": 0.0, "sfrac": 0.0}
    score, threshold, calibrated = presence_score(f, model)
    assert abs(score - 1 / (1 + np.exp(-2.0))) < 1e-9 and threshold == 0.7 and calibrated


def test_part_checks_drop_low_scores_and_masks_off_the_object() -> None:
    parts = [
        _pm("seat", (0, 4, 0, 10), 0.8),
        _pm("leg", (4, 10, 0, 2), 0.3),
        _pm("back", (15, 20, 15, 20), 0.9),
    ]
    region = Mask.from_numpy(np.pad(np.ones((10, 10), dtype=bool), ((0, 10), (0, 10))))
    kept, checks = check_parts(
        parts, {"default": 0.5, "labels": {"leg": 0.2}}, region, "the stool in image 1"
    )
    assert [p.label for p in kept] == ["seat", "leg"]
    assert [(c.check, c.decision) for c in checks] == [
        ("part", "kept"),
        ("part", "kept"),
        ("part", "kept"),
        ("region", "dropped"),
    ]
    kept, checks = check_parts(parts, {"default": 0.5, "labels": {}}, None)
    assert [p.label for p in kept] == ["seat", "back"] and checks[1].to_dict()["decision"] == "dropped"


def test_mask_models_judge_labelled_masks_and_best_guesses_instead_of_the_label_thresholds() -> None:
    model = {"weights": [1.0, 1.0], "bias": 0.0, "cut": 0.5}
    thresholds = {  # the label thresholds (0.8) would drop every mask below
        "default": 0.8,
        "labels": {},
        "prior": {"stool": {"leg": 0.9, "seat": 0.9}},
        "prior_default": 0.5,
        "guess": model,
        "labelled": {**model, "bias": 1.0},
    }
    likely = _pm("leg", (4, 10, 0, 2), 0.5).model_copy(update={"guess": True})  # a leg usually shows
    rare = _pm("rung", (4, 10, 4, 6), 0.5).model_copy(update={"guess": True})  # never on a stool: prior 0
    seat = _pm("seat", (0, 4, 0, 10), 0.5)  # labelled: its own model
    p_likely, p_rare, p_seat = (mask_probability(p, thresholds) for p in (likely, rare, seat))
    assert p_likely and p_rare and p_seat
    # logit(0.9) + log(0.5) > 0 > logit(0.01) + log(0.5); the labelled model's bias adds 1
    assert p_rare[0] < 0.5 < p_likely[0] < p_seat[0] and p_likely[1] == 0.5
    kept, checks = check_parts([likely, rare, seat], thresholds)
    assert [p.label for p in kept] == ["leg", "seat"]
    assert [(c.check, c.decision) for c in checks] == [
        ("guess", "kept"),
        ("guess", "dropped"),
        ("part", "kept"),
    ]
    assert checks[0].threshold == 0.5 and abs(checks[0].score - p_likely[0]) < 1e-12
    dropped = dropped_guesses([likely, rare, seat], kept, thresholds)  # with their chance as score
    assert [p.label for p in dropped] == ["rung"] and dropped[0].score == p_rare[0]
    assert dropped_guesses([likely, rare], [], {"default": 0.4}) == []  # no model: nothing doubtful
    # an unknown category reads the default rate
    cat = likely.model_copy(update={"object": "robot"})
    assert abs(mask_probability(cat, thresholds)[0] - 1 / (1 + 2.0)) < 1e-9  # type: ignore[index]
    # without the models a mask is judged by its label's threshold
    kept, _ = check_parts([likely], {"default": 0.4, "labels": {}})
    assert [p.label for p in kept] == ["leg"]


def test_confidence() -> None:
    assert platt(0.3, None) == 0.3 and platt(2.0, None) == 1.0
    assert abs(platt(0.5, {"a": 4.0, "b": -2.0}) - 0.5) < 1e-12
    assert raw_confidence("parts", [0.8, 0.6], [0.5]) == 0.35
    assert raw_confidence("yes_no", [], []) == 0.75


def test_the_packaged_calibration_loads() -> None:
    cal = Calibration.load()
    assert cal.presence("oracle", "oracle") is None  # oracles are never calibrated
    model = cal.presence("clip-small", "plum-small")
    if model is not None:  # written by `mereo calibrate`
        assert set(model["features"]) <= {"det", "smax", "smean", "sarea", "sfrac"}
        assert 0.0 < model["threshold"] < 1.0


def test_the_segmenters_own_evidence_joins_the_features_and_models_that_need_it_fall_back() -> None:
    ev = {"pix": 0.5, "pmax": 0.9, "pmean": 0.4, "pool": 0.2}
    f = presence_features("stool", [("stool", 0.7)], [], expected=4, image_area=400, evidence=ev)
    assert f["pix"] == 0.5 and f["pool"] == 0.2
    assert abs(f["log_pix"] - np.log(0.501)) < 1e-9 and abs(f["log_pool"] - np.log(0.2001)) < 1e-9
    model = {
        "features": ["det", "pix"],
        "weights": [0.0, 4.0],
        "bias": -2.0,
        "mean": [0.0, 0.0],
        "std": [1.0, 1.0],
        "threshold": 0.5,
    }
    score, _, calibrated = presence_score(f, model)
    assert calibrated and abs(score - 0.5) < 1e-9
    # a model fitted with evidence the backend does not give: the plain rule, marked uncalibrated
    plain = presence_features("stool", [("stool", 0.7)], [], expected=4, image_area=400)
    assert presence_score(plain, model) == (0.7, 0.5, False)
