"""Part checks for ``mereo calibrate``: per-label score thresholds and the best-guess model.

A segmenter's part masks come in two kinds (``PartMask.guess``):

- labelled masks: pixels the segmenter labelled with the part; each label gets the score
  threshold that maximises the label F1 of the shown objects' parts on val (:func:`part_thresholds`,
  fitted over every mask, guesses included: a label with few masks keeps the overall threshold,
  and over labelled masks alone that would keep nearly everything);
- best guesses: no pixel was labelled with the part, so the mask holds the pixels where it is
  likeliest, and its score is that likelihood's peak. Peaks say little on their own (a knob's
  guess at 0.12 is right about as often as one at 0.5), so a logistic model (:func:`guess_model`)
  reads the peak together with how often SynthParts shows that part of that category
  (:func:`visibility_prior`, counted on train scenes), and a guess is kept when the model's
  probability reaches the cut that maximises the same F1 with the labelled masks kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from mereo.agent.verify import guess_features

#: a best-guess mask's features: logit of the visibility prior, log of the peak
GUESS_FEATURES = ("logit_prior", "log_peak")
#: the cuts tried for the guess model's probability
GUESS_CUTS = tuple(round(0.2 + 0.05 * i, 2) for i in range(13))


def best_f1_threshold(
    rows: Sequence[tuple[float, bool]], total: int, extra: tuple[int, int] = (0, 0)
) -> float:
    """The score threshold maximising ``F1 = 2 tp / (tp + fp + total)`` over ``(score, correct)``
    rows, with ``extra = (tp, fp)`` of masks kept anyway."""
    tp, fp = extra
    top, t_best = -1.0, 0.0
    for score, ok in sorted(rows, reverse=True):
        tp, fp = tp + ok, fp + (not ok)
        f1 = 2 * tp / max(1, tp + fp + total)
        if f1 > top:
            top, t_best = f1, score
    return float(t_best)


def part_thresholds(
    samples: Sequence[tuple[str, float, bool]], n_true: dict[str, int], min_n: int = 20
) -> dict[str, Any]:
    """Per-label thresholds maximising F1, from ``(label, score, correct)`` masks and the number of
    shown parts per label (``n_true``; the masks' recall denominator)."""
    overall = best_f1_threshold([(s, ok) for _, s, ok in samples], sum(n_true.values()))
    labels: dict[str, float] = {}
    for label in sorted({lab for lab, _, _ in samples}):
        rows = [(s, ok) for lab, s, ok in samples if lab == label]
        if len(rows) >= min_n:
            labels[label] = round(best_f1_threshold(rows, n_true.get(label, 0)), 4)
    return {"default": round(overall, 4), "labels": labels}


def visibility_prior(n_scenes: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """``{category: {part: share}}``: how often each part of each SynthParts category is visible
    on the objects of ``n_scenes`` rendered train scenes."""
    from mereo.data.synthparts.compose import generate_scenes
    from mereo.data.synthparts.templates import CATEGORIES

    seen: dict[tuple[str, str], list[int]] = {}
    scenes = generate_scenes("train", n_scenes, seed, 128)
    for scene in tqdm(scenes, total=n_scenes, desc="visibility prior", disable=n_scenes < 500):
        for o in scene.objects:
            visible = set(o.visible_parts())
            for part in CATEGORIES[o.category].parts:
                seen.setdefault((o.category, part), []).append(part in visible)
    out: dict[str, dict[str, float]] = {}
    for (cat, part), flags in sorted(seen.items()):
        out.setdefault(cat, {})[part] = round(float(np.mean(flags)), 4)
    return out


def guess_model(
    guesses: Sequence[tuple[str | None, str, float, bool]],
    prior: dict[str, dict[str, float]],
    kept: tuple[int, int],
    total: int,
) -> dict[str, Any] | None:
    """The logistic best-guess model and its cut.

    Args:
        guesses: ``(category, label, peak, correct)`` of the val best guesses.
        prior: :func:`visibility_prior`.
        kept: ``(tp, fp)`` of the labelled masks the label thresholds keep.
        total: shown parts (the F1's recall denominator).

    Returns:
        ``{"features", "weights", "bias", "cut", "prior", "default", "val"}`` (None without
        both right and wrong guesses to learn from).
    """
    from mereo.evals.calibrate import fit_logistic

    y = np.array([ok for *_, ok in guesses], dtype=float)
    if len(y) < 10 or y.min() == y.max():
        return None
    default = float(np.mean([v for parts in prior.values() for v in parts.values()])) if prior else 0.5
    given = {"prior": prior, "default": default}
    x = np.array([guess_features(c, lab, s, given) for c, lab, s, _ in guesses])
    w, b = fit_logistic(x, y, l2=1e-2)
    p = 1.0 / (1.0 + np.exp(-np.clip(x @ w + b, -50, 50)))

    def f1(cut: float) -> float:
        tp = kept[0] + int(((p >= cut) & (y == 1)).sum())
        fp = kept[1] + int(((p >= cut) & (y == 0)).sum())
        return 2 * tp / max(1, tp + fp + total)

    cut = max(GUESS_CUTS, key=lambda c: (f1(c), -c))
    return {
        "features": list(GUESS_FEATURES),
        "weights": [round(float(v), 6) for v in w],
        "bias": round(b, 6),
        "cut": cut,
        "prior": prior,
        "default": round(default, 4),
        "val": {
            "guesses": len(y),
            "right": int(y.sum()),
            "kept": int((p >= cut).sum()),
            "kept_right": int(((p >= cut) & (y == 1)).sum()),
            "f1_all_guesses": round(f1(0.0), 4),
            "f1_no_guesses": round(f1(1.01), 4),
            "f1": round(f1(cut), 4),
        },
    }


def fit_part_checks(
    samples: Sequence[tuple[str, float, bool, bool, str | None]],
    n_true: dict[str, int],
    prior: dict[str, dict[str, float]] | None,
) -> dict[str, Any]:
    """Label thresholds over every mask (as without a guess model: so labelled masks are judged as
    before) and, with a ``prior``, the guess model over the best guesses, from ``(label, score,
    correct, guess, category)`` val masks."""
    out = part_thresholds([(lab, s, ok) for lab, s, ok, _, _ in samples], n_true)
    if prior is None:
        return out
    tp = fp = 0
    for lab, s, ok, guess, _ in samples:
        if not guess and s >= out["labels"].get(lab, out["default"]):
            tp, fp = tp + ok, fp + (not ok)
    guesses = [(cat, lab, s, ok) for lab, s, ok, guess, cat in samples if guess]
    model = guess_model(guesses, prior, (tp, fp), sum(n_true.values()))
    if model is not None:
        out["guess"] = model
    return out
