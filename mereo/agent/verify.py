"""Checks of what the tools returned, with thresholds calibrated on SynthParts val.

- object presence: is a named object in its image? A logistic score over the recogniser's and
  the segmenter's evidence (:func:`presence_features`), one model per (recognize, segment)
  backend pair, thresholded so that few shown objects are missed on val. When the segmenter
  exposes its image features (``image_embedding``, as ``plum-small`` does) and the object is one
  of SynthParts' categories, a linear probe over the pooled features (fitted on SynthParts train)
  adds its probability that the category is in the image;
- part presence: a part mask counts only when its score reaches its label's threshold or, where
  the mask models are fitted, when its model (:func:`mask_probability`: its score and how often
  SynthParts shows that part of that category; one model for labelled masks, one for best
  guesses, ``PartMask.guess``) gives it at least the calibrated chance of being right;
- region: a part of a recognised object must lie mostly inside the object's mask;
- images unlike SynthParts (:mod:`mereo.agent.ood`);
- confidence: a Platt map from the answer's raw evidence to the chance it is right.

Calibrated values live in ``mereo/agent/calibration.json`` (written by ``mereo calibrate``, see
:mod:`mereo.evals.calibrate`), keyed by backend names. A backend pair without calibration gets
a plain rule (an object is present when the recogniser or the segmenter found it with score at
least 0.5; every part mask is kept), and the trace says it was not calibrated.

Every check becomes a :class:`Check` (what, score, threshold, decision) for ``Answer.trace``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mereo.agent.ood import OodModel
from mereo.types import Mask, PartMask

CALIBRATION_FILE = "calibration.json"
#: Presence features, in the order the logistic models' weights use them.
PRESENCE_FEATURES = ("det", "smax", "smean", "sarea", "sfrac")
#: ... with the category probe's probability when there is one.
PROBE_FEATURES = (*PRESENCE_FEATURES, "probe", "log_probe")
#: ... with a segmenter's own evidence (``presence_evidence``, as the shared encoder's has).
EVIDENCE_FEATURES = ("pix", "pmax", "pmean", "pool", "log_pix", "log_pool")
#: ... and the closer look's (``closer_look``: the same evidence on zoomed crops of the objects),
#: read only when the first score leaves doubt (below the look model's ``skip``).
LOOK_FEATURES = ("zpix", "zpmax", "zpmean", "zpool")
#: A part of a recognised object counts only when this fraction of it lies inside the object.
MIN_INSIDE = 0.5
#: The uncalibrated rule's threshold on ``max(det, smax)``.
PLAIN_THRESHOLD = 0.5


@dataclass
class Check:
    """One verification step: what was checked, its score and threshold, and what was decided.

    Attributes:
        check: ``"object"``, ``"part"``, ``"guess"``, ``"region"``, ``"ood"`` or ``"examine"``.
        subject: e.g. ``"sofa in image 1"``, ``"leg of the stool in image 2"``.
        score, threshold: the evidence and the bar it had to reach (``passed``: score >= threshold,
            or for ``ood`` a distance <= threshold).
        decision: ``"kept"``, ``"dropped"``, ``"retry"``, ``"not found"``, ``"warned"``.
        attempt: 1, or 2 for the one retry.
        calibrated: whether the threshold came from calibration.
    """

    check: str
    subject: str
    score: float
    threshold: float
    passed: bool
    decision: str
    attempt: int = 1
    calibrated: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"], d["threshold"] = round(self.score, 4), round(self.threshold, 4)
        return d


@lru_cache(maxsize=4)
def _load(path: str | None) -> dict[str, Any]:
    if path is None:
        ref = resources.files("mereo.agent").joinpath(CALIBRATION_FILE)
        return json.loads(ref.read_text()) if ref.is_file() else {}
    p = Path(path)
    return json.loads(p.read_text()) if p.exists() else {}


@dataclass
class Calibration:
    """The calibrated values (see the module docstring); ``{}`` sections when none were fitted."""

    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Calibration:
        """The packaged ``calibration.json`` (or ``path``)."""
        return cls(_load(str(path) if path is not None else None))

    def presence(
        self, recognize: str, segment: str, probe: bool = False, look: bool = False
    ) -> dict[str, Any] | None:
        """The presence model of a backend pair (``probe``: the one with the probe's features;
        ``look``: the second model, with the closer look's features and its ``skip`` score)."""
        key = f"{recognize}+{segment}" + ("+probe" if probe else "") + ("+look" if look else "")
        return self.data.get("presence", {}).get(key)

    def probe(self, segment: str) -> dict[str, Any] | None:
        return self.data.get("probe", {}).get(segment)

    def part_thresholds(self, segment: str) -> dict[str, Any] | None:
        return self.data.get("parts", {}).get(segment)

    def confidence(self, config: str) -> dict[str, Any] | None:
        return self.data.get("confidence", {}).get(config)

    def ood(self) -> OodModel | None:
        d = self.data.get("ood")
        return OodModel.from_dict(d) if d else None


def presence_features(
    name: str,
    detections: Sequence[tuple[str, float]],
    parts: Sequence[PartMask],
    expected: int,
    image_area: int,
    probe: float | None = None,
    evidence: dict[str, float] | None = None,
) -> dict[str, float]:
    """Evidence that ``name`` is in an image.

    Args:
        name: the object's canonical name.
        detections: the recogniser's ``(label, score)`` for the image (scores in ``[0, 1]``).
        parts: the part masks the segmenter found for the object in that image.
        expected: how many parts the hierarchy expects.
        image_area: pixels of the image.
        probe: the category probe's probability (:func:`probe_probability`), when there is one.
        evidence: the segmenter's own evidence (:func:`segmenter_evidence`), when it has some.

    Returns:
        :data:`PRESENCE_FEATURES` (and ``probe``, ``log_probe``; and :data:`EVIDENCE_FEATURES`)
        -> value.
    """
    det = max((s for label, s in detections if label == name), default=0.0)
    scores = [p.score for p in parts]
    area = sum(p.mask.area for p in parts) / max(1, image_area)
    out = {
        "det": float(det),
        "smax": max(scores, default=0.0),
        "smean": sum(scores) / len(scores) if scores else 0.0,
        "sarea": float(area),
        "sfrac": len({p.label for p in parts}) / max(1, expected),
    }
    if probe is not None:
        out["probe"], out["log_probe"] = float(probe), math.log(float(probe) + 1e-4)
    if evidence is not None:
        out.update({k: float(evidence[k]) for k in ("pix", "pmax", "pmean", "pool")})
        out["log_pix"] = math.log(out["pix"] + 1e-3)
        out["log_pool"] = math.log(out["pool"] + 1e-4)
    return out


def segmenter_evidence(segmenter: Any, image: Any, name: str) -> dict[str, float] | None:
    """The segmenter's own evidence that ``name`` is in the image (``None`` when the backend has no
    ``presence_evidence``)."""
    return _optional(segmenter, "presence_evidence", image, name)


def closer_look(segmenter: Any, image: Any, name: str) -> dict[str, float] | None:
    """The segmenter's evidence from zoomed crops of the image's objects (:data:`LOOK_FEATURES`;
    ``None`` when the backend has no ``closer_look``)."""
    return _optional(segmenter, "closer_look", image, name)


def _optional(segmenter: Any, method: str, image: Any, name: str) -> dict[str, float] | None:
    fn = getattr(segmenter, method, None)
    return fn(image, name) if callable(fn) else None


def pooled_features(segmenter: Any, image: Any) -> np.ndarray | None:
    """Mean and max over space of each of the segmenter's image feature maps (``None`` when the
    backend has no ``image_embedding``); read from the shared feature cache after segmentation."""
    embed = getattr(segmenter, "image_embedding", None)
    if not callable(embed):
        return None
    feats = embed(image)
    vecs = []
    for t in feats if isinstance(feats, (tuple, list)) else [feats]:
        t = t[0].detach().float().reshape(t.shape[1], -1).cpu().numpy()
        vecs += [t.mean(1), t.max(1)]
    return np.concatenate(vecs)


def probe_probability(pooled: np.ndarray | None, name: str, probe: dict[str, Any] | None) -> float | None:
    """The probe's probability that an object of category ``name`` is in the image (``None`` when
    there is no probe, no features, or the probe does not know the category)."""
    if pooled is None or not probe or name not in probe["categories"]:
        return None
    k = probe["categories"].index(name)
    x = (pooled - np.asarray(probe["mean"])) / np.asarray(probe["std"])
    if x.shape[0] != len(probe["weights"][k]):
        return None
    z = float(x @ np.asarray(probe["weights"][k]) + probe["bias"][k])
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def presence_score(features: dict[str, float], model: dict[str, Any] | None) -> tuple[float, float, bool]:
    """``(score, threshold, calibrated)`` of one object's presence.

    With a calibrated model, the score is its logistic probability; without, it is
    ``max(det, smax)`` against :data:`PLAIN_THRESHOLD`.
    """
    if not model or any(k not in features for k in model["features"]):
        return max(features["det"], features["smax"]), PLAIN_THRESHOLD, False
    z = float(model["bias"])
    for k, w, mu, sd in zip(model["features"], model["weights"], model["mean"], model["std"], strict=True):
        z += w * (features[k] - mu) / sd
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))), float(model["threshold"]), True


def _inside(part: Mask, region: Mask) -> float:
    if tuple(part.size) != tuple(region.size) or part.area == 0:
        return 1.0
    return Mask.intersection([part, region]).area / part.area


def check_parts(
    parts: Sequence[PartMask],
    thresholds: dict[str, Any] | None,
    region: Mask | None = None,
    where: str = "",
) -> tuple[list[PartMask], list[Check]]:
    """Keep the part masks that pass their score check and lie on the object.

    Args:
        parts: one object's part masks in one image.
        thresholds: the segment backend's calibration: ``{"default": t, "labels": {label: t}}``
            (a mask passes when its score reaches its label's threshold), and where fitted the
            mask models (``"prior"``, ``"prior_default"``, ``"labelled"``, ``"guess"``: a mask
            passes when :func:`mask_probability` reaches its model's cut; they take precedence);
            None: every mask passes the score check, uncalibrated.
        region: the recognised object's mask; parts mostly outside it are dropped.
        where: ``"the stool in image 2"``, for the check's subject.

    Returns:
        The kept masks and one :class:`Check` per mask (score) plus one per region drop.
    """
    kept: list[PartMask] = []
    checks: list[Check] = []
    for p in parts:
        subject = f"{p.label} of {where}" if where else p.label
        scored = mask_probability(p, thresholds)
        if scored is not None:
            prob, cut = scored
            ok = prob >= cut
            checks.append(
                Check("guess" if p.guess else "part", subject, prob, cut, ok, "kept" if ok else "dropped")
            )
            if not ok:
                continue
        elif thresholds:
            t = float(thresholds.get("labels", {}).get(p.label, thresholds.get("default", 0.0)))
            ok = p.score >= t
            checks.append(Check("part", subject, p.score, t, ok, "kept" if ok else "dropped"))
            if not ok:
                continue
        if region is not None:
            inside = _inside(p.mask, region)
            if inside < MIN_INSIDE:
                checks.append(Check("region", subject, inside, MIN_INSIDE, False, "dropped"))
                continue
        kept.append(p)
    return kept, checks


def mask_features(
    object: str | None, label: str, score: float, prior: dict[str, dict[str, float]], default: float
) -> list[float]:
    """A part mask's features for the mask models: the logit of how often SynthParts shows that
    part of that category (``prior``: 0 for a part the category never shows there, ``default``
    for a category it does not know) and the log of the mask's score."""
    seen = prior.get(object or "")
    rate = min(0.99, max(0.01, float(default if seen is None else seen.get(label, 0.0))))
    return [math.log(rate / (1.0 - rate)), math.log(max(1e-3, score))]


def mask_probability(part: PartMask, thresholds: dict[str, Any] | None) -> tuple[float, float] | None:
    """``(chance that the part is there, the model's cut)`` from the mask model of its kind
    (``"guess"`` for a best guess, ``"labelled"`` otherwise); None without that model."""
    model = (thresholds or {}).get("guess" if part.guess else "labelled")
    if not model:
        return None
    assert thresholds is not None
    x = mask_features(part.object, part.label, part.score, thresholds["prior"], thresholds["prior_default"])
    z = sum(float(w) * v for w, v in zip(model["weights"], x, strict=True)) + float(model["bias"])
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))), float(model["cut"])


def dropped_guesses(
    parts: Sequence[PartMask], kept: Sequence[PartMask], thresholds: dict[str, Any] | None
) -> list[PartMask]:
    """The best guesses among ``parts`` that :func:`check_parts` did not keep, each with its
    guess model's chance as ``score`` (empty without a guess model)."""
    kept_ids = {id(p) for p in kept}
    out = []
    for p in parts:
        scored = mask_probability(p, thresholds) if p.guess and id(p) not in kept_ids else None
        if scored is not None:
            out.append(p.model_copy(update={"score": scored[0]}))
    return out


def platt(raw: float, params: dict[str, Any] | None) -> float:
    """The calibrated probability of a raw score.

    ``params`` is a histogram-binning map (``{"edges", "values"}``: the share of right answers
    among val answers whose raw score fell in each bin) or a Platt map (``{"a", "b"}``:
    ``sigmoid(a * raw + b)``); without parameters ``raw`` is clipped to ``[0, 1]``.
    """
    if not params:
        return float(min(1.0, max(0.0, raw)))
    if "edges" in params:
        edges, values = params["edges"], params["values"]
        i = int(np.searchsorted(np.asarray(edges[1:-1], dtype=float), raw, side="right"))
        return float(values[min(i, len(values) - 1)])
    z = float(params["a"]) * raw + float(params["b"])
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def raw_confidence(
    kind: str, mask_scores: Sequence[float], presence: Sequence[float], value: object = None
) -> float:
    """The answer's raw evidence in ``[0, 1]``, before calibration: the mean score of its masks
    (or 1 for an answer with no masks that needs none, e.g. "no"), times the weakest presence
    score of the objects it depends on."""
    if mask_scores:
        base = sum(mask_scores) / len(mask_scores)
    else:
        base = 0.5 if kind in ("parts", "objects") else 0.75
    weakest = min(presence, default=1.0)
    return float(max(0.0, min(1.0, base * weakest)))
