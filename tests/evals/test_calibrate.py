"""The calibration fits: logistic regression, presence thresholds, part thresholds, Platt, OOD."""

from __future__ import annotations

import numpy as np

from mereo.agent.ood import OodModel, image_statistics
from mereo.agent.verify import PRESENCE_FEATURES, presence_score
from mereo.evals.calibrate import fit_platt, presence_model
from mereo.evals.calibrate_ood import measure_ood
from mereo.evals.calibrate_parts import (
    MASK_CUTS,
    fit_part_checks,
    mask_model,
    part_thresholds,
    visibility_prior,
)
from mereo.evals.logistic import fit_logistic
from mereo.types import Mask, PartMask


def test_logistic_regression_recovers_a_separating_direction() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).astype(float)
    w, b = fit_logistic(x, y, l2=1e-3)
    assert w[0] > 0 > w[1] and abs(b) < 1.0
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert ((p > 0.5) == (y == 1)).mean() > 0.97


def test_presence_model_threshold_misses_the_asked_share_of_shown_objects() -> None:
    rng = np.random.default_rng(1)
    rows, labels = [], []
    for k in range(600):
        shown = k % 2
        rows.append({f: float(rng.normal(1.0 if shown else 0.0, 0.7)) for f in PRESENCE_FEATURES})
        labels.append(shown)
    model = presence_model(rows, labels, miss=0.05)
    scores = [presence_score(r, model)[0] for r in rows]
    missed = np.mean([s < model["threshold"] for s, y in zip(scores, labels, strict=True) if y])
    caught = np.mean([s < model["threshold"] for s, y in zip(scores, labels, strict=True) if not y])
    assert abs(missed - 0.05) < 0.01 and model["val"]["shown_missed"] == round(float(missed), 4)
    assert caught > 0.9
    curve = model["val"]["caught_at_miss"]  # more shown objects missed -> more absent ones caught
    assert list(curve.values()) == sorted(curve.values()) and curve["0.05"] == round(float(caught), 4)


def test_part_thresholds_maximise_label_f1() -> None:
    samples = [("leg", s, s > 0.5) for s in np.linspace(0.05, 0.95, 40)]
    out = part_thresholds(samples, {"leg": 20}, min_n=10)
    assert 0.5 < out["labels"]["leg"] <= 0.55 and out["default"] == out["labels"]["leg"]
    assert part_thresholds(samples, {"leg": 20}, min_n=100)["labels"] == {}


def test_platt_and_ood_measurement() -> None:
    rng = np.random.default_rng(2)
    raw = rng.random(2000)
    ok = (rng.random(2000) < raw**2).astype(float)
    params = fit_platt(raw, ok)
    assert params["a"] > 0 and params["n"] == 2000
    flat = [np.full((64, 64, 3), v, dtype=np.uint8) for v in (40, 90, 140, 200)]
    stats = np.array([image_statistics(im) + rng.normal(0, 0.01, 7) for im in flat * 5])
    model = OodModel.fit(stats)
    out = measure_ood(model, stats, {"noise": [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)]})
    assert out["noise flagged"] == 1.0 and out["synthparts_test_flagged"] <= 0.05


def test_histogram_binning_maps_raw_scores_to_the_accuracy_of_their_bin() -> None:
    from mereo.agent.verify import platt
    from mereo.evals.calibrate import fit_bins

    rng = np.random.default_rng(0)
    raw = np.concatenate([rng.uniform(0.0, 0.5, 200), rng.uniform(0.9, 1.0, 800)])
    truth = np.where(raw < 0.5, 0.2, 0.7)  # accuracy is a step, not a sigmoid of raw
    ok = (rng.random(len(raw)) < truth).astype(float)
    params = fit_bins(raw, ok, n_bins=10)
    assert params["edges"][0] == 0.0 and params["edges"][-1] == 1.0 and params["n"] == 1000
    assert len(params["values"]) == len(params["edges"]) - 1
    assert abs(platt(0.2, params) - 0.2) < 0.1 and abs(platt(0.95, params) - 0.7) < 0.1
    assert 0.0 < platt(-1.0, params) < 1.0 and 0.0 < platt(2.0, params) < 1.0  # outside: end bins


def test_the_look_model_is_read_in_doubt_and_the_two_steps_miss_the_asked_share() -> None:
    from mereo.agent.verify import LOOK_FEATURES
    from mereo.evals.calibrate import look_model

    rng = np.random.default_rng(2)
    rows, labels = [], []
    for k in range(1200):
        shown = k % 2
        row = {f: float(rng.normal(0.6 if shown else 0.0, 1.0)) for f in PRESENCE_FEATURES}
        # the closer look separates what the first features cannot
        row |= {f: float(rng.normal(2.0 if shown else 0.0, 0.7)) for f in LOOK_FEATURES}
        rows.append(row)
        labels.append(shown)
    first = presence_model(rows, labels, miss=0.02)
    look = look_model(rows, labels, 0.02, first, (*PRESENCE_FEATURES, *LOOK_FEATURES), skip=0.97)
    y = np.array(labels)
    p1 = np.array([presence_score(r, first)[0] for r in rows])
    p2 = np.array([presence_score(r, look)[0] for r in rows])
    assert abs((p1[y == 0] >= look["skip"]).mean() - 0.03) < 0.01  # 3% of absent objects skip the look
    kept = (p1 >= look["skip"]) | (p2 >= look["threshold"])
    assert abs((~kept[y == 1]).mean() - 0.02) < 0.01
    assert look["val"]["absent_caught"] == round(float((~kept[y == 0]).mean()), 4)
    assert look["val"]["absent_caught"] > first["val"]["absent_caught"] + 0.1


def test_a_mask_model_learns_from_the_prior_and_its_cut_maximises_f1() -> None:
    rng = np.random.default_rng(0)
    prior = {"kettle": {"knob": 0.2, "lid": 0.9}}
    guesses = []
    for _ in range(400):  # lids' guesses are mostly right, knobs' mostly wrong, peaks say little
        label = str(rng.choice(["knob", "lid"]))
        ok = bool(rng.random() < (0.85 if label == "lid" else 0.15))
        guesses.append(("kettle", label, float(rng.uniform(0.05, 0.6)), ok))
    model = mask_model(guesses, prior, 0.5, kept=(100, 10), total=300)
    assert model is not None and model["weights"][0] > 0.5  # the prior carries the signal
    assert model["cut"] in MASK_CUTS
    assert model["val"]["f1"] >= max(model["val"]["f1_all"], model["val"]["f1_none"])
    kept = model["val"]["kept"]
    assert 0 < kept < len(guesses) and model["val"]["kept_right"] / kept > 0.7
    assert mask_model(guesses[:5], prior, 0.5, (0, 0), 10) is None  # too few to learn from
    # label thresholds over every mask; one model per kind of mask, with the prior they read
    labelled = [("lid", 0.9, True, False, "kettle")] * 30 + [("knob", 0.4, False, False, "kettle")] * 10
    samples = labelled + [(lab, s, ok, True, c) for c, lab, s, ok in guesses]
    out = fit_part_checks(samples, {"lid": 230, "knob": 70}, prior)
    assert out["labels"] == part_thresholds([r[:3] for r in samples], {"lid": 230, "knob": 70})["labels"]
    assert out["guess"]["val"]["masks"] == len(guesses) and out["labelled"]["val"]["masks"] == 40
    assert out["prior"] == prior and out["prior_default"] == 0.55  # the mean rate
    assert not {"prior", "labelled", "guess"} & set(fit_part_checks(samples, {"lid": 230, "knob": 70}, None))


def test_the_visibility_prior_counts_visible_parts_on_train_scenes() -> None:
    prior = visibility_prior(40, seed=0)
    rates = [v for parts in prior.values() for v in parts.values()]
    assert len(prior) > 5 and all(0.0 <= v <= 1.0 for v in rates)
    assert min(rates) < 1.0 and max(rates) == 1.0  # some parts hide sometimes; bodies always show
    assert visibility_prior(40, seed=0) == prior


def test_calibrating_the_default_tools_fits_presence_part_thresholds_and_the_mask_models() -> None:
    from mereo.agent.verify import mask_probability
    from mereo.evals.calibrate import calibrate_tools

    models, parts, probe = calibrate_tools(
        "synthparts-cnn", "synthparts-cnn", 40, absent=1, miss=0.03, train_scenes=0, prior_scenes=60
    )
    assert probe is None and "synthparts-cnn+synthparts-cnn" in models
    assert 0.0 <= parts["default"] <= 1.0 and all(0 <= t <= 1 for t in parts["labels"].values())
    assert "kettle" in parts["prior"]
    for kind in ("labelled", "guess"):
        model = parts[kind]
        assert model["cut"] in MASK_CUTS and model["val"]["masks"] >= 10
        assert model["val"]["f1"] >= model["val"]["f1_none"]  # the cut is at least as good as none
        assert model["weights"][0] > 0  # a part that usually shows is likelier
    pm = PartMask(
        label="spout", object="kettle", mask=Mask.from_numpy(np.ones((4, 4), bool)), score=0.3, guess=True
    )
    scored = mask_probability(pm, parts)
    assert scored is not None and 0.0 < scored[0] < 1.0 and scored[1] == parts["guess"]["cut"]
