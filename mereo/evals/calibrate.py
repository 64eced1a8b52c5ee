"""``mereo calibrate``: fit the verification thresholds and the confidence map on SynthParts val.

Writes ``mereo/agent/calibration.json`` (or ``--out``), read by :mod:`mereo.agent.verify`:

- ``probe["<segment>"]``: a linear probe per SynthParts category over the segmenter's pooled
  image features (``--train-scenes`` train scenes): is an object of the category in the image?
- ``presence["<recognize>+<segment>"]`` (and ``...+probe`` with the probe's probability as two
  more features): a logistic model over the presence features of named objects (val scenes:
  every object whose category occurs once, plus ``--absent`` categories the scene does not show),
  thresholded so that at most ``--miss`` of the shown objects fall below; with a segmenter that
  has a ``closer_look`` (zoomed crops of the objects), ``...+look``: a second model over the same
  features and the look's, read when the first score is below its ``skip``; the two steps
  together miss ``--miss`` of the shown objects (written only when they catch more absent val
  objects than the first model alone);
- ``parts["<segment>"]``: per-label score thresholds that maximise the label F1 of the shown
  objects' part masks on val (a label with too few masks keeps the overall threshold), and the
  mask models for labelled masks and best guesses (``parts["<segment>"]["labelled"]``,
  ``["guess"]``, with the visibility prior they read; :mod:`mereo.evals.calibrate_parts`);
- ``ood``: the Gaussian of SynthParts val image statistics (:mod:`mereo.agent.ood`), and how well
  it separates SynthParts test images from other images made here (``ood["measured"]``);
- ``confidence["<backends>"]``: a histogram-binning map (:func:`fit_bins`) from an answer's raw
  evidence to the chance it is right, fitted on the records of an agent eval on val
  (``--records``), for answers and for single labels.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mereo.agent.ood import OodModel, image_statistics
from mereo.agent.verify import (
    CALIBRATION_FILE,
    EVIDENCE_FEATURES,
    LOOK_FEATURES,
    PRESENCE_FEATURES,
    PROBE_FEATURES,
    closer_look,
    pooled_features,
    presence_features,
    probe_probability,
    segmenter_evidence,
)
from mereo.evals.calibrate_ood import measure_ood, other_images
from mereo.evals.calibrate_parts import fit_part_checks, visibility_prior
from mereo.evals.logistic import fit_logistic
from mereo.types import ImageRef

#: the closer look is taken when the first presence score is below the score that this share of
#: the absent objects stays under (on val)
LOOK_SKIP = 0.97


def fit_platt(raw: Sequence[float], correct: Sequence[float]) -> dict[str, float]:
    """``{"a", "b"}`` with ``P(correct) = sigmoid(a * raw + b)``."""
    w, b = fit_logistic(np.asarray(raw, dtype=float)[:, None], np.asarray(correct, dtype=float), l2=1e-3)
    return {"a": round(float(w[0]), 5), "b": round(b, 5), "n": len(raw)}


def fit_bins(raw: Sequence[float], correct: Sequence[float], n_bins: int = 10) -> dict[str, Any]:
    """A histogram-binning map: ``n_bins`` bins at the quantiles of ``raw`` (so each holds about as
    many answers), each mapped to its share of right answers (Laplace-smoothed: ``(k + 1) / (n + 2)``).

    Raw scores pile up near 1 (most masks score high), where a single sigmoid cannot follow the
    accuracy; on SynthParts test this measured ECE 5.7% against 12.6% for a Platt map fitted on the
    same val answers.
    """
    x = np.asarray(raw, dtype=float)
    y = np.asarray(correct, dtype=float)
    inner = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1]))
    idx = np.searchsorted(inner, x, side="right")
    values = [(float(y[idx == i].sum()) + 1) / (int((idx == i).sum()) + 2) for i in range(len(inner) + 1)]
    return {
        "edges": [0.0, *[round(float(e), 6) for e in inner], 1.0],
        "values": [round(v, 5) for v in values],
        "n": len(x),
    }


def presence_model(
    rows: list[dict[str, float]], labels: list[int], miss: float, features: Sequence[str] = PRESENCE_FEATURES
) -> dict[str, Any]:
    """The logistic presence model of feature ``rows`` and its threshold (the ``miss`` quantile of
    the shown objects' scores)."""
    x = np.array([[r[k] for k in features] for r in rows], dtype=float)
    y = np.asarray(labels, dtype=float)
    mean, std = x.mean(0), x.std(0) + 1e-6
    w, b = fit_logistic((x - mean) / std, y)
    p = 1.0 / (1.0 + np.exp(-(((x - mean) / std) @ w + b)))
    threshold = float(np.quantile(p[y == 1], miss))
    return {
        "features": list(features),
        "weights": [round(float(v), 6) for v in w],
        "bias": round(b, 6),
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
        "threshold": round(threshold, 6),
        "val": {
            "shown": int(y.sum()),
            "absent": int((1 - y).sum()),
            "shown_missed": round(float((p[y == 1] < threshold).mean()), 4),
            "absent_caught": round(float((p[y == 0] < threshold).mean()), 4),
            # the trade-off: absent objects caught at other shares of shown objects missed
            "caught_at_miss": {
                f"{m:.2f}": round(float((p[y == 0] < np.quantile(p[y == 1], m)).mean()), 4)
                for m in (0.01, 0.02, 0.03, 0.04, 0.05, 0.08)
            },
        },
    }


def look_model(
    rows: list[dict[str, float]],
    labels: list[int],
    miss: float,
    first: dict[str, Any],
    features: Sequence[str],
    skip: float = LOOK_SKIP,
) -> dict[str, Any]:
    """The second presence model, read when the ``first`` model's score is below ``skip`` (the
    score that only ``1 - skip`` of the absent objects reach): logistic over ``features`` (the
    first model's and the closer look's), fitted on every row, thresholded so that the two steps
    together miss ``miss`` of the shown objects."""
    from mereo.agent.verify import presence_score

    model = presence_model(rows, labels, miss, features)
    y = np.asarray(labels)
    p1 = np.array([presence_score(r, first)[0] for r in rows])
    p2 = np.array([presence_score(r, model)[0] for r in rows])
    cut = float(np.quantile(p1[y == 0], skip))
    doubt = p1 < cut
    shown_doubt = p2[(y == 1) & doubt]
    share = min(1.0, miss * int(y.sum()) / max(1, len(shown_doubt)))
    threshold = float(np.quantile(shown_doubt, share)) if len(shown_doubt) else 0.0
    kept = ~doubt | (p2 >= threshold)
    model["skip"], model["threshold"] = round(cut, 6), round(threshold, 6)
    model["val"].update(
        {
            "shown_missed": round(float((~kept[y == 1]).mean()), 4),
            "absent_caught": round(float((~kept[y == 0]).mean()), 4),
            "shown_looked": round(float(doubt[y == 1].mean()), 4),
            "absent_looked": round(float(doubt[y == 0].mean()), 4),
        }
    )
    return model


def fit_probe(segmenter: Any, n_scenes: int, seed: int = 0, l2: float = 20.0) -> dict[str, Any] | None:
    """Per-category logistic probes over the segmenter's pooled features on SynthParts train scenes."""
    from mereo.data.synthparts.compose import generate_scenes
    from mereo.data.synthparts.templates import CATEGORIES

    cats = sorted(CATEGORIES)
    xs, ys = [], []
    for scene in tqdm(generate_scenes("train", n_scenes, seed, 128), total=n_scenes, desc="category probe"):
        pooled = pooled_features(segmenter, ImageRef(scene.image))
        if pooled is None:
            return None
        xs.append(pooled)
        shown = {o.category for o in scene.objects}
        ys.append([c in shown for c in cats])
    x, y = np.array(xs), np.array(ys, dtype=float)
    mean, std = x.mean(0), x.std(0) + 1e-6
    weights, bias = [], []
    for k in range(len(cats)):
        w, b = fit_logistic((x - mean) / std, y[:, k], l2=l2)
        weights.append([round(float(v), 5) for v in w])
        bias.append(round(b, 5))
    return {
        "categories": cats,
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
        "weights": weights,
        "bias": bias,
        "train_scenes": n_scenes,
    }


def calibrate_tools(
    recognize: str,
    segment: str,
    n_scenes: int,
    absent: int,
    miss: float,
    seed: int = 0,
    train_scenes: int = 2000,
    prior_scenes: int = 3000,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any] | None]:
    """Presence models, part thresholds and the category probe of one (recognize, segment) pair."""
    from mereo.cache import FeatureCache
    from mereo.data.synthparts.compose import generate_scenes
    from mereo.data.synthparts.questions import _nameable
    from mereo.data.synthparts.templates import CATEGORIES
    from mereo.knowledge import PartHierarchy
    from mereo.tools import recognize as rec_tools
    from mereo.tools import segment as seg_tools
    from mereo.tools.base import ToolContext
    from mereo.tools.segment.text import describe

    ctx = ToolContext(cache=FeatureCache(64))
    rec, seg = rec_tools.build(recognize, ctx), seg_tools.build(segment, ctx)
    probe = fit_probe(seg, train_scenes, seed) if train_scenes else None
    kb = PartHierarchy.default()
    rng = np.random.default_rng(seed)
    rows: list[dict[str, float]] = []
    ys: list[int] = []
    samples: list[tuple[str, float, bool, bool, str | None]] = []
    n_true: dict[str, int] = {}
    cats = sorted(CATEGORIES)
    for scene in tqdm(generate_scenes("val", n_scenes, seed, 128), total=n_scenes, desc="presence and parts"):
        ref = ImageRef(scene.image)
        dets = [(r.label, float(r.score)) for r in rec.recognize(ref, None, top_k=5)]
        pooled = pooled_features(seg, ref) if probe else None
        shown = {o.category for o in scene.objects}
        named = {o.category: o for o in _nameable(scene)}
        others = [str(c) for c in rng.choice([c for c in cats if c not in shown], absent, replace=False)]
        for cat in [*named, *others]:
            parts = kb.parts_of(cat)
            found = seg.segment(ref, text=describe(cat, parts), parts=parts, object=cat)
            p_cat = probe_probability(pooled, cat, probe)
            own = segmenter_evidence(seg, ref, cat)
            area = ref.width * ref.height
            row = presence_features(cat, dets, found, len(parts), area, p_cat, own)
            rows.append({**row, **(closer_look(seg, ref, cat) or {})})
            ys.append(int(cat in named))
            if cat in named:
                visible = set(named[cat].visible_parts())
                for label in visible:
                    n_true[label] = n_true.get(label, 0) + 1
                samples += [(p.label, float(p.score), p.label in visible, p.guess, cat) for p in found]
    extra = EVIDENCE_FEATURES if rows and "pix" in rows[0] else ()
    first = presence_model(rows, ys, miss, (*PRESENCE_FEATURES, *extra))
    models = {f"{recognize}+{segment}": first}
    if rows and LOOK_FEATURES[0] in rows[0]:
        look = (*PRESENCE_FEATURES, *extra, *LOOK_FEATURES)
        second = look_model(rows, ys, miss, first, look)
        print(f"presence {recognize}+{segment}+look: {json.dumps(second['val'])}")
        if second["val"]["absent_caught"] > first["val"]["absent_caught"]:  # kept only when it helps
            models[f"{recognize}+{segment}+look"] = second
    if probe:
        models[f"{recognize}+{segment}+probe"] = presence_model(rows, ys, miss, (*PROBE_FEATURES, *extra))
    prior = visibility_prior(prior_scenes, seed) if prior_scenes else None
    checks = fit_part_checks(samples, n_true, prior)
    for kind in ("labelled", "guess"):
        if kind in checks:
            print(f"{kind} part masks {segment}: {json.dumps(checks[kind]['val'])}")
    return models, checks, probe


def confidence_from_records(path: Path) -> dict[str, Any]:
    """Platt maps for answers and labels from an eval run's records (``prediction.confidence_raw``)."""
    from mereo.evals.records import latest_by_id, read_records

    recs = list(latest_by_id([r for f in sorted(path.glob("*.jsonl")) for r in read_records(f)]).values())
    raw, ok, lraw, lok = [], [], [], []
    for r in recs:
        pred, m = r.get("prediction", {}), r.get("metrics", {})
        if pred.get("confidence_raw") is None:
            continue
        raw.append(float(pred["confidence_raw"]))
        ok.append(float(m.get("correct", m.get("exact_set", 0.0))))
        gold = set(r.get("gold", {}).get("labels", []))
        for label, v in (pred.get("label_confidence_raw") or {}).items():
            lraw.append(float(v))
            lok.append(float(label in gold))
    if not raw:
        raise SystemExit(
            f"{path} has no records with prediction.confidence_raw; run `mereo eval agent --split val`"
        )
    return {"answer": fit_bins(raw, ok), "label": fit_bins(lraw, lok) if lraw else None}


def main(argv: list[str] | None = None) -> int:
    """``mereo calibrate``: see the module docstring."""
    p = argparse.ArgumentParser(prog="mereo calibrate", description=__doc__.splitlines()[0])
    p.add_argument("--recognize", default="synthparts-cnn")
    p.add_argument("--segment", default="synthparts-cnn")
    p.add_argument("--scenes", type=int, default=300, help="val scenes for presence and part thresholds")
    p.add_argument("--absent", type=int, default=3, help="absent categories per scene")
    p.add_argument(
        "--train-scenes", type=int, default=2000, help="train scenes for the category probe (0: none)"
    )
    p.add_argument(
        "--prior-scenes",
        type=int,
        default=3000,
        help="train scenes for the parts' visibility prior (0: no mask models)",
    )
    p.add_argument("--miss", type=float, default=0.03, help="share of shown objects allowed below threshold")
    p.add_argument(
        "--records", default=None, help="run folder of `mereo eval agent --split val` (confidence)"
    )
    p.add_argument("--backends", default=None, help="the confidence map's key (default: from the run)")
    p.add_argument("--skip-tools", action="store_true", help="keep the presence and part thresholds")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "agent" / CALIBRATION_FILE))
    args = p.parse_args(argv)
    out = Path(args.out)
    data: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    data.setdefault("about", "written by `mereo calibrate` (mereo/evals/calibrate.py) on SynthParts val")
    if not args.skip_tools:
        models, parts, probe = calibrate_tools(
            args.recognize,
            args.segment,
            args.scenes,
            args.absent,
            args.miss,
            train_scenes=args.train_scenes,
            prior_scenes=args.prior_scenes,
        )
        data.setdefault("presence", {}).update(models)
        data.setdefault("parts", {})[args.segment] = parts
        if probe:
            data.setdefault("probe", {})[args.segment] = probe
        for key, model in models.items():
            print(f"presence {key}: {json.dumps(model['val'])}")
        from mereo.data.synthparts.compose import generate_scenes

        val = np.array([image_statistics(s.image) for s in generate_scenes("val", args.scenes, 0, 128)])
        test = np.array([image_statistics(s.image) for s in generate_scenes("test", args.scenes, 0, 128)])
        ood = OodModel.fit(val)
        measured = measure_ood(ood, test, other_images(np.random.default_rng(1)))
        data["ood"] = {**ood.to_dict(), "measured": measured}
        print(f"ood: {json.dumps(measured)}")
    if args.records:
        run = Path(args.records)
        key = args.backends
        if key is None:
            settings = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
            backends = settings.get("backends") or settings.get("configs", {}).get("run", {})
            key = ",".join(f"{k}={v}" for k, v in sorted(backends.items())) if backends else "default"
        data.setdefault("confidence", {})[key] = confidence_from_records(run)
        print(f"confidence {key}: {json.dumps(data['confidence'][key])}")
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0
