"""Part checks for ``mereo calibrate``: per-label score thresholds and the mask models.

A segmenter's part masks come in two kinds (``PartMask.guess``):

- labelled masks: pixels the segmenter labelled with the part, scored by the part's highest
  probability in the image;
- best guesses: no pixel was labelled with the part, so the mask holds the pixels where it is
  likeliest, scored by that likelihood's peak.

Every label gets the score threshold that maximises the label F1 of the shown objects' parts on
val (:func:`part_thresholds`), the check of segmenters without a visibility prior. Per-label
thresholds fit few masks each and let low-peak guesses through (a knob's guess at 0.12 is right
about as often as one at 0.5), so with a prior two logistic **mask models** (:func:`mask_model`)
take their place: each reads the mask's score together with how often SynthParts shows that part
of that category (:func:`visibility_prior`, counted on train scenes), one fitted on the labelled
masks and one on the guesses, each kept when its probability reaches the cut that maximises the
same F1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from mereo.agent.verify import mask_features
from mereo.evals.logistic import fit_logistic

#: a mask's features for the mask models: logit of the visibility prior, log of the score
MASK_FEATURES = ("logit_prior", "log_score")
#: the cuts tried for a mask model's probability
MASK_CUTS = tuple(round(0.05 * i, 2) for i in range(1, 17))


def best_f1_threshold(rows: Sequence[tuple[float, bool]], total: int) -> float:
    """The score threshold maximising ``F1 = 2 tp / (tp + fp + total)`` over ``(score, correct)``
    rows."""
    tp = fp = 0
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


def mask_model(
    rows: Sequence[tuple[str | None, str, float, bool]],
    prior: dict[str, dict[str, float]],
    default: float,
    kept: tuple[int, int],
    total: int,
) -> dict[str, Any] | None:
    """A logistic mask model and its cut.

    Args:
        rows: ``(category, label, score, correct)`` of val masks of one kind.
        prior: :func:`visibility_prior`; ``default``: the rate of a category it does not know.
        kept: ``(tp, fp)`` of the masks of the other kind that are kept anyway.
        total: shown parts (the F1's recall denominator).

    Returns:
        ``{"features", "weights", "bias", "cut", "val"}`` (None without both right and wrong
        masks to learn from).
    """
    y = np.array([ok for *_, ok in rows], dtype=float)
    if len(y) < 10 or y.min() == y.max():
        return None
    x = np.array([mask_features(c, lab, s, prior, default) for c, lab, s, _ in rows])
    w, b = fit_logistic(x, y, l2=1e-2)
    p = 1.0 / (1.0 + np.exp(-np.clip(x @ w + b, -50, 50)))

    def f1(cut: float) -> float:
        tp = kept[0] + int(((p >= cut) & (y == 1)).sum())
        fp = kept[1] + int(((p >= cut) & (y == 0)).sum())
        return 2 * tp / max(1, tp + fp + total)

    cut = max(MASK_CUTS, key=lambda c: (f1(c), -c))
    return {
        "features": list(MASK_FEATURES),
        "weights": [round(float(v), 6) for v in w],
        "bias": round(b, 6),
        "cut": cut,
        "val": {
            "masks": len(y),
            "right": int(y.sum()),
            "kept": int((p >= cut).sum()),
            "kept_right": int(((p >= cut) & (y == 1)).sum()),
            "f1_all": round(f1(0.0), 4),
            "f1_none": round(f1(1.01), 4),
            "f1": round(f1(cut), 4),
        },
    }


def fit_part_checks(
    samples: Sequence[tuple[str, float, bool, bool, str | None]],
    n_true: dict[str, int],
    prior: dict[str, dict[str, float]] | None,
) -> dict[str, Any]:
    """Label thresholds over every mask and, with a ``prior``, the two mask models (labelled masks
    first, with no guesses kept; then guesses, with the labelled masks the first model keeps),
    from ``(label, score, correct, guess, category)`` val masks."""
    out = part_thresholds([(lab, s, ok) for lab, s, ok, _, _ in samples], n_true)
    if prior is None:
        return out
    default = float(np.mean([v for parts in prior.values() for v in parts.values()])) if prior else 0.5
    total = sum(n_true.values())
    labelled = [(cat, lab, s, ok) for lab, s, ok, guess, cat in samples if not guess]
    guesses = [(cat, lab, s, ok) for lab, s, ok, guess, cat in samples if guess]
    first = mask_model(labelled, prior, default, (0, 0), total)
    if first is not None:  # the labelled masks the first model keeps, as (tp, fp)
        kept = (first["val"]["kept_right"], first["val"]["kept"] - first["val"]["kept_right"])
    else:
        kept = (sum(ok for *_, ok in labelled), sum(not ok for *_, ok in labelled))
    second = mask_model(guesses, prior, default, kept, total)
    out.update({"prior": prior, "prior_default": round(default, 4)})
    out.update({k: m for k, m in (("labelled", first), ("guess", second)) if m is not None})
    return out
