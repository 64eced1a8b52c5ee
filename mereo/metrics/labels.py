"""Label metrics: part-name precision / recall / F1 and multiple-choice accuracy (Partonomy /
PLUM), SS and S-IoU (Calico / Osprey), and the answer-set F1 and exact match of multi-step items.

Labels are compared by :func:`~mereo.metrics.common.casefold_label` (the references' exact
lower-cased match) unless an embedding match is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from mereo.metrics.common import Similarity, casefold_label, greedy_match, mean, similarity_matrix
from mereo.metrics.masks import ImagePair, mask_labels, miou_matches


@dataclass(frozen=True)
class PRF:
    """Micro-summed precision / recall / F1 with their counts."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


def multiple_choice_accuracy(predicted: Sequence[int], correct: Sequence[int]) -> float:
    """Fraction of items whose chosen index equals the correct one (NaN for no items)."""
    if len(predicted) != len(correct):
        raise ValueError(f"{len(predicted)} predictions for {len(correct)} items")
    return mean(float(p == c) for p, c in zip(predicted, correct, strict=True))


def _label_matches(
    pred: list[str],
    gold: list[str],
    mode: str,
    threshold: float,
    assignment: str,
    similarity: Similarity | None,
) -> int:
    if mode == "exact":
        return len(set(pred) & set(gold))
    if not pred or not gold:
        return 0
    sim = similarity_matrix(pred, gold, similarity)
    if assignment == "hungarian":
        rows, cols = linear_sum_assignment(sim, maximize=True)
        return int(sum(sim[i, j] >= threshold for i, j in zip(rows, cols, strict=True)))
    masked = np.where(sim >= threshold, sim, 0.0)
    return len(greedy_match(masked, stop_at_zero=True))


def part_prf(
    pred: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    match: str = "exact",
    threshold: float = 0.75,
    assignment: str = "hungarian",
    similarity: Similarity | None = None,
) -> PRF:
    """Part-name precision / recall / F1, micro-summed over items.

    Labels are normalised (:func:`~mereo.metrics.common.casefold_label`) and deduplicated per item.

    Args:
        pred, gold: per item, the predicted and gold part names.
        match: ``"exact"`` (set match, the default) or ``"embedding"`` (MiniLM cosine >= threshold,
            one-to-one).
        threshold: cosine threshold of embedding matching.
        assignment: ``"hungarian"`` or ``"greedy"`` one-to-one assignment for embedding matching.
        similarity: ``f(a, b) -> cosine``; defaults to the offline MiniLM.
    """
    if match not in ("exact", "embedding") or assignment not in ("hungarian", "greedy"):
        raise ValueError(f"unknown match {match!r} / assignment {assignment!r}")
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} items")
    tp = fp = fn = 0
    for p, g in zip(pred, gold, strict=True):
        ps = sorted({casefold_label(x) for x in p})
        gs = sorted({casefold_label(x) for x in g})
        k = _label_matches(ps, gs, match, threshold, assignment, similarity)
        tp, fp, fn = tp + k, fp + len(ps) - k, fn + len(gs) - k
    precision = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * rec / (precision + rec) if precision + rec else 0.0
    return PRF(precision, rec, f1, tp, fp, fn)


# -- Calico / MixedParts ---------------------------------------------------------------------


def _matched_labels(images: Sequence[ImagePair]) -> list[tuple[str, str]]:
    out = []
    for pred, gold in images:
        pl, gl = mask_labels(pred), mask_labels(gold)
        out += [(casefold_label(pl[i]), casefold_label(gl[j])) for i, j, _ in miou_matches(pred, gold)]
    return out


def semantic_similarity(images: Sequence[ImagePair], similarity: Similarity | None = None) -> float:
    """SS: mean cosine similarity of (pred label, gold label) over the mIoU-matched mask pairs
    (MiniLM sentence embeddings, as Osprey). NaN when nothing matched."""
    pairs = _matched_labels(images)
    if not pairs:
        return float("nan")
    if similarity is None:
        from mereo.text import get_encoder

        enc = get_encoder()
        a, b = enc.encode([p for p, _ in pairs]), enc.encode([g for _, g in pairs])
        return float(np.mean(np.sum(a * b, axis=1)))
    return mean(similarity(p, g) for p, g in pairs)


def _words(label: str) -> set[str]:
    return set(re.sub(r"[_:,.]", " ", label.lower()).split())


def siou(images: Sequence[ImagePair]) -> float:
    """S-IoU: mean word Jaccard of (pred label, gold label) over the mIoU-matched pairs."""
    vals = []
    for p, g in _matched_labels(images):
        wp, wg = _words(p), _words(g)
        vals.append(1.0 if not (wp | wg) else len(wp & wg) / len(wp | wg))
    return mean(vals)


# -- multi-step items ------------------------------------------------------------------------


def answer_set_f1(pred: Iterable[str], gold: Iterable[str]) -> float:
    """F1 of the normalised predicted label set against the gold set (both empty -> 1.0)."""
    ps, gs = {casefold_label(x) for x in pred}, {casefold_label(x) for x in gold}
    if not ps and not gs:
        return 1.0
    return 2 * len(ps & gs) / (len(ps) + len(gs))


def exact_set_match(pred: Iterable[str], gold: Iterable[str]) -> float:
    """1.0 when the normalised label sets are equal, else 0.0."""
    return float({casefold_label(x) for x in pred} == {casefold_label(x) for x in gold})
