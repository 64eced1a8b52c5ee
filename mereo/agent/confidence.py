"""``Answer.confidence``: how likely the answer is right, overall and per label.

The raw evidence (:func:`mereo.agent.verify.raw_confidence`: the answer masks' scores times the
weakest presence score of the objects it depends on; for "I could not find ...", one minus that
object's presence score) is mapped through Platt parameters fitted on SynthParts val by
``mereo calibrate --records RUN`` for the same backends. Without them the raw value is returned
and ``calibrated`` is False.
"""

from __future__ import annotations

from typing import Any

from mereo.agent.verify import Calibration, platt, raw_confidence
from mereo.config import MereoConfig


def backends_key(config: MereoConfig) -> str:
    """The key of a backend configuration (``"coseg=...,correspond=...,lmm=...,..."``)."""
    return ",".join(f"{k}={v}" for k, v in sorted(config.backends().items()))


def answer_confidence(result: Any, presence: dict[str, float], config: MereoConfig) -> dict[str, Any]:
    """Calibrated and raw confidence of a composed answer, overall and per label.

    Args:
        result: the :class:`~mereo.agent.state.Composed` answer set.
        presence: ``"<object>@<image>"`` -> presence score (from verification).
        config: the agent's config (its backends pick the calibration).

    Returns:
        ``{"confidence", "confidence_raw", "label_confidence", "label_confidence_raw", "calibrated"}``.
    """
    params = Calibration.load().confidence(backends_key(config)) or {}
    not_found = result.get("not_found") or []
    if not_found:
        raw = 1.0 - max(presence.get(f"{x['object']}@{x['image']}", 0.0) for x in not_found)
    else:
        scores = [p.score for p in result["parts"]]
        raw = raw_confidence(result["kind"], scores, list(presence.values()), result.get("value"))
    weakest = min(presence.values(), default=1.0)
    by_label: dict[str, list[float]] = {}
    for p in result["parts"]:
        by_label.setdefault(p.label, []).append(p.score)
    labels_raw = {k: round(weakest * sum(v) / len(v), 4) for k, v in sorted(by_label.items())}
    return {
        "confidence": round(platt(raw, params.get("answer")), 4),
        "confidence_raw": round(raw, 4),
        "label_confidence": {k: round(platt(v, params.get("label")), 4) for k, v in labels_raw.items()},
        "label_confidence_raw": labels_raw,
        "calibrated": bool(params.get("answer")),
    }
