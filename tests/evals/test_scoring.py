"""Item metrics of yes/no, count and absent-object questions, and their summary (with ECE)."""

from __future__ import annotations

import math

from mereo.evals.scoring import item_metrics, named_objects, summarize_group

PARTS = {"expr": {"op": "parts", "object": "chair", "image": 0}, "returns": "parts"}
EXISTS = {
    "expr": {"op": "exists", "part": "leg", "of": [{"op": "parts", "object": "chair", "image": 0}]},
    "returns": "yes_no",
}


def _gold(plan: dict, value: object = None, absent: tuple = (), labels: tuple = ()) -> dict:
    return {
        "labels": list(labels),
        "plan": plan,
        "value": value,
        "absent": list(absent),
        "named": named_objects(plan),
    }


def test_item_metrics_of_direct_answers_and_could_not_find() -> None:
    m = item_metrics({"labels": ["leg"], "value": True, "not_found": []}, _gold(EXISTS, True, labels=["leg"]))
    assert m["yes_no"] == 1.0 and m["correct"] == 1.0 and m["cnf_present"] == 0.0
    m = item_metrics({"labels": [], "value": None, "not_found": ["chair"]}, _gold(EXISTS, True))
    assert m["yes_no"] == 0.0 and m["cnf_present"] == 1.0
    m = item_metrics({"labels": [], "not_found": ["sofa"]}, _gold(PARTS, absent=["sofa"]))
    assert m["cnf_absent"] == 1.0 and m["correct"] == 1.0 and "cnf_present" not in m
    count = {"expr": {"op": "count", "part": "leg", "of": PARTS["expr"]}, "returns": "count"}
    assert item_metrics({"labels": ["leg"], "value": 4}, _gold(count, 4))["count"] == 1.0
    assert item_metrics({"labels": ["leg"], "value": 3}, _gold(count, 4))["count"] == 0.0


def test_summary_has_rates_and_calibration_error() -> None:
    records = [
        {"prediction": {"confidence": 0.9}, "gold": {}, "metrics": {"exact_set": 1.0, "cnf_present": 0.0}},
        {"prediction": {"confidence": 0.9}, "gold": {}, "metrics": {"exact_set": 0.0, "cnf_present": 1.0}},
        {
            "prediction": {"confidence": 0.2},
            "gold": {},
            "metrics": {"exact_set": 0.0, "cnf_absent": 1.0, "correct": 1.0},
        },
    ]
    s = summarize_group(records, label_metrics=False)
    assert s["cnf_present"] == 0.5 and s["cnf_absent"] == 1.0 and math.isnan(s["yes_no"])
    assert math.isclose(s["ece"], (2 * 0.4 + 0.8) / 3)
