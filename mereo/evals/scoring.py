"""Per-item metrics of one prediction, and the summary of a run's records.

Item metrics are what one record can say on its own (answer-set F1, exact set, choice correct,
plan match, the item's mask gIoU, yes/no and count correct, whether it said it could not find an
object: ``cnf_absent`` on questions about absent objects, ``cnf_present`` on questions about shown
ones; ``correct``, what the answer's confidence is calibrated against). Dataset metrics that
are not means of item values (cIoU, micro gIoU, part P/R/F1, AP50, Recall, ECE) are computed
by :func:`summarize` from the masks and labels stored in the records, so a summary depends only
on the records file.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from mereo import metrics as M
from mereo.data.items import QAItem
from mereo.metrics import answers as A
from mereo.types import PartMask

#: Metric columns in the order tables show them (fractions in [0, 1], seconds in s).
METRIC_ORDER = (
    "answer_f1",
    "exact_set",
    "mc_accuracy",
    "part_f1",
    "plan_accuracy",
    "giou",
    "giou_micro",
    "ciou",
    "ap50",
    "miou",
    "recall",
    "ss",
    "siou",
    "yes_no",
    "count",
    "cnf_absent",
    "cnf_present",
    "ece",
    "seconds",
)
#: Suites whose items are image pairs scored with the Calico metrics.
PAIR_SUITES = ("pairs",)


def correct_choice(item: QAItem) -> int | None:
    """Index of the correct answer choice (``answer_types[i] == "correct"``), if the item has one."""
    if not item.answer_choices:
        return None
    for i, t in enumerate(item.answer_types):
        if t == "correct":
            return i
    return 0


def gold_record(item: QAItem) -> dict[str, Any]:
    """The gold side of a record (JSON-ready)."""
    return {
        "labels": item.gold_labels,
        "parts": [p.model_dump(mode="json") for p in item.gold_masks],
        "plan": item.gold_plan,
        "choice": correct_choice(item),
        "answer_parts": item.answer_parts,
        "other_object": item.other_object,
        "value": item.gold_value,
        "absent": list(item.absent_objects),
        "named": named_objects(item.gold_plan),
    }


def named_objects(plan: dict[str, Any] | None) -> list[str]:
    """Objects a gold plan names in an image (``parts`` nodes with an image), without recursion."""
    if not plan or not isinstance(plan.get("expr"), dict):
        return []
    out, stack = [], [plan["expr"]]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if node.get("op") == "parts" and node.get("image") is not None:
            out.append(str(node.get("object")))
        for key in ("args", "of", "candidates"):
            sub = node.get(key)
            stack.extend(sub if isinstance(sub, list) else [sub] if isinstance(sub, dict) else [])
    return sorted(set(out))


def _parts(raw: Iterable[dict[str, Any]]) -> list[PartMask]:
    return [PartMask.model_validate(p) for p in raw]


def item_metrics(pred: dict[str, Any], gold: dict[str, Any]) -> dict[str, float]:
    """Metrics of one item from the ``prediction`` and ``gold`` dicts of its record.

    Returns:
        ``answer_f1``, ``exact_set``; ``mc_correct`` for multiple-choice items; ``plan_match`` when
        there is a gold plan (not for predictors that do not plan); ``giou`` (paired, mean over
        the item's images that have a mask) when the item has gold masks.
    """
    out = {
        "answer_f1": M.answer_set_f1(pred.get("labels", []), gold.get("labels", [])),
        "exact_set": M.exact_set_match(pred.get("labels", []), gold.get("labels", [])),
    }
    if gold.get("choice") is not None:
        out["mc_correct"] = float(pred.get("choice") == gold["choice"])
    if gold.get("plan") and not pred.get("no_plan"):
        out["plan_match"] = M.plan_match(pred.get("plan"), gold["plan"])
    if gold.get("parts"):
        out["giou"] = M.giou(_item_images(pred, gold))
    value, not_found = gold.get("value"), [str(x) for x in pred.get("not_found") or []]
    if isinstance(value, bool):
        out["yes_no"] = out["correct"] = A.yes_no_correct(pred.get("value"), value)
    elif isinstance(value, int):
        out["count"] = out["correct"] = A.count_correct(pred.get("value"), value)
    if gold.get("absent"):
        out["cnf_absent"] = out["correct"] = A.said_not_found(not_found, gold["absent"])
    elif gold.get("named"):
        out["cnf_present"] = A.said_not_found(not_found)
    out.setdefault("correct", out["exact_set"])
    return out


def _item_images(pred: dict[str, Any], gold: dict[str, Any]) -> list[M.ImagePair]:
    """Per-image (pred, gold) masks of one item; images with no mask on either side are left out
    (they would count IoU 1 each and reward an item for the images it is not about)."""
    return M.split_by_image(_parts(pred.get("parts", [])), _parts(gold.get("parts", []))) or [([], [])]


def _mean(values: Iterable[float]) -> float:
    return M.mean(v for v in values if v is not None and not math.isnan(v))


def _images(records: Sequence[dict[str, Any]]) -> list[M.ImagePair]:
    out: list[M.ImagePair] = []
    for r in records:
        if r["gold"].get("parts"):
            out += _item_images(r["prediction"], r["gold"])
    return out


def summarize_group(records: Sequence[dict[str, Any]], label_metrics: bool = True) -> dict[str, float]:
    """Metrics of a group of records (see :data:`METRIC_ORDER`); NaN where a metric does not apply.

    Args:
        records: run records (``prediction``, ``gold``, ``metrics``, ``seconds``, ``suite``).
        label_metrics: compute Recall and SS, which need the MiniLM encoder.
    """
    out: dict[str, float] = {
        "n": float(len(records)),
        "errors": float(sum(1 for r in records if r.get("error"))),
    }
    im = [r.get("metrics", {}) for r in records]
    out["answer_f1"] = _mean(m.get("answer_f1", math.nan) for m in im)
    out["exact_set"] = _mean(m.get("exact_set", math.nan) for m in im)
    out["mc_accuracy"] = _mean(m.get("mc_correct", math.nan) for m in im)
    out["plan_accuracy"] = _mean(m.get("plan_match", math.nan) for m in im)
    prf = (
        M.part_prf(
            [r["prediction"].get("labels", []) for r in records],
            [r["gold"].get("labels", []) for r in records],
        )
        if records
        else None
    )
    out["part_precision"] = prf.precision if prf else math.nan
    out["part_recall"] = prf.recall if prf else math.nan
    out["part_f1"] = prf.f1 if prf else math.nan
    images = _images(records)
    out["giou"] = M.giou(images) if images else math.nan
    out["giou_micro"] = M.giou(images, reduction="micro") if images else math.nan
    out["ciou"] = M.ciou(images) if images else math.nan
    pair_images = _images([r for r in records if r.get("suite") in PAIR_SUITES])
    nan = math.nan
    out["ap50"] = M.ap50(pair_images) if pair_images else nan
    out["miou"] = M.miou(pair_images) if pair_images else nan
    out["siou"] = M.siou(pair_images) if pair_images else nan
    out["recall"] = M.recall(pair_images) if pair_images and label_metrics else nan
    out["ss"] = M.semantic_similarity(pair_images) if pair_images and label_metrics else nan
    for key in ("yes_no", "count", "cnf_absent", "cnf_present"):
        out[key] = _mean(m.get(key, math.nan) for m in im)
    scored = [
        (float(r["prediction"]["confidence"]), float(m.get("correct", m.get("exact_set", 0.0))))
        for r, m in zip(records, im, strict=True)
        if r.get("prediction", {}).get("confidence") is not None
    ]
    confidence, correct = [c for c, _ in scored], [k for _, k in scored]
    out["ece"] = A.expected_calibration_error(confidence, correct) if scored else math.nan
    out["seconds"] = _mean(float(r.get("seconds", math.nan)) for r in records)
    return out


def summarize(records: Sequence[dict[str, Any]], label_metrics: bool = True) -> dict[str, dict[str, float]]:
    """Metrics of the whole run (``"all"``), per suite (``"suite:<s>"``) and per question type
    (``"type:<t>"``). Records are ordered by their ``index`` first, so the result does not
    depend on the order in which items finished."""
    recs = sorted(records, key=lambda r: (r.get("index", 0), str(r.get("id"))))
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        groups[f"suite:{r.get('suite')}"].append(r)
        groups[f"type:{r.get('question_type')}"].append(r)
    out = {"all": summarize_group(recs, label_metrics)}
    for key in sorted(groups):
        out[key] = summarize_group(groups[key], label_metrics)
    return out


def format_value(metric: str, value: float) -> str:
    """Percent with one decimal for fractions, seconds with three decimals, ``-`` for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if metric == "seconds":
        return f"{value:.3f}"
    if metric in ("n", "errors"):
        return str(int(value))
    return f"{100 * value:.1f}"


def summary_table(summary: dict[str, dict[str, float]], metrics: Sequence[str] = METRIC_ORDER) -> str:
    """A markdown table, one row per group, one column per metric that has a value somewhere."""
    cols = [m for m in metrics if any(not math.isnan(g.get(m, math.nan)) for g in summary.values())]
    lines = ["| group | n | " + " | ".join(cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    for name, g in summary.items():
        lines.append(
            f"| {name} | {format_value('n', g.get('n', 0))} | "
            + " | ".join(format_value(c, g.get(c, math.nan)) for c in cols)
            + " |"
        )
    return "\n".join(lines)
