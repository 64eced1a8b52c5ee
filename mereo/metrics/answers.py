"""Metrics of direct answers and of the agent's honesty about what it saw.

- yes/no accuracy and count accuracy (an answer with no value, e.g. "I could not find ...",
  counts as wrong);
- "could not find" rates: on questions about absent objects (higher is better) and on questions
  about objects that are shown (lower is better);
- calibration: the expected calibration error of answer confidences and the reliability
  diagram's bins (equal-width bins over ``[0, 1]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _is_bool(x: object) -> bool:
    return isinstance(x, (bool, np.bool_))


def yes_no_correct(pred: object, gold: bool) -> float:
    """1.0 when ``pred`` is the same yes/no as ``gold`` (``None`` or a number: 0.0)."""
    return float(_is_bool(pred) and bool(pred) == bool(gold))


def count_correct(pred: object, gold: int) -> float:
    """1.0 when ``pred`` is the same whole number as ``gold`` (a bool or ``None``: 0.0)."""
    return float(isinstance(pred, (int, np.integer)) and not _is_bool(pred) and int(pred) == int(gold))


def said_not_found(not_found: Sequence[str], objects: Sequence[str] = ()) -> float:
    """1.0 when the answer says it could not find one of ``objects`` (any object when empty).

    Args:
        not_found: object names the answer says it could not find.
        objects: the objects to look for (normalised names).
    """
    if not objects:
        return float(bool(not_found))
    return float(bool({o.strip().lower() for o in not_found} & {o.strip().lower() for o in objects}))


@dataclass
class ReliabilityBin:
    """One bin of a reliability diagram: confidences in ``[lo, hi)`` (the last bin includes 1)."""

    lo: float
    hi: float
    n: int
    confidence: float
    accuracy: float


def reliability_bins(
    confidence: Sequence[float], correct: Sequence[float], bins: int = 10
) -> list[ReliabilityBin]:
    """Equal-width bins of ``confidence`` with their mean confidence and accuracy (empty bins: NaN)."""
    conf = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    ok = np.asarray(correct, dtype=float)
    if conf.shape != ok.shape:
        raise ValueError(f"{conf.size} confidences but {ok.size} correctness values")
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        n = int(sel.sum())
        out.append(
            ReliabilityBin(
                b / bins,
                (b + 1) / bins,
                n,
                float(conf[sel].mean()) if n else float("nan"),
                float(ok[sel].mean()) if n else float("nan"),
            )
        )
    return out


def expected_calibration_error(
    confidence: Sequence[float], correct: Sequence[float], bins: int = 10
) -> float:
    """ECE: the mean over bins of ``|accuracy - confidence|``, weighted by the bin's share of answers.

    Returns:
        A fraction in ``[0, 1]``; NaN when there are no answers.
    """
    rows = reliability_bins(confidence, correct, bins)
    total = sum(r.n for r in rows)
    if total == 0:
        return float("nan")
    return float(sum(r.n * abs(r.accuracy - r.confidence) for r in rows if r.n) / total)
