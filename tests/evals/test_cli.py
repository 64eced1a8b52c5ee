"""``mereo eval SUITE``: records, summary and settings of a run on hand-written items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mereo.evals import cli
from mereo.evals.records import read_records, records_path
from mereo.knowledge import PartHierarchy


def _not_json(token: str) -> None:
    raise AssertionError(f"summary.json holds {token}, which is not JSON")


def test_eval_records_and_summary(items_file: Path, tmp_path: Path, capsys):
    out = tmp_path / "run"
    code = cli.main(["items", str(items_file), "--preset", "blind", "--out", str(out), "--no-progress"])
    assert code == 0
    recs = read_records(records_path(out, "items"))
    assert [r["item_id"] for r in sorted(recs, key=lambda r: r["index"])] == ["p-0", "p-1", "c-0"]
    assert all(r["id"].startswith(r["item_id"] + "@") for r in recs)
    by_id = {r["item_id"]: r for r in recs}
    # the blind answer to identification is all taxonomy parts of "chair": F1 against {leg, seat}
    chair = PartHierarchy.default().parts_of("chair")
    assert by_id["p-0"]["metrics"]["answer_f1"] == pytest.approx(4 / (len(chair) + 2))
    assert "plan_match" not in by_id["p-0"]["metrics"]  # the blind baseline does not plan
    assert by_id["p-0"]["metrics"]["mc_correct"] == 1.0
    assert by_id["p-0"]["metrics"]["giou"] == 0.0  # no masks
    assert all(r["error"] is None and r["backends"]["lmm"] == "blind" and r["seed"] == 0 for r in recs)
    summary = json.loads((out / "summary.json").read_text(), parse_constant=_not_json)
    assert summary["all"]["n"] == 3
    assert summary["suite:pairs"]["ap50"] == 0.0
    assert summary["suite:partonomy"]["ap50"] is None  # undefined (no pair item): null, not NaN
    assert "answer_f1" in capsys.readouterr().out
    run = json.loads((out / "run.json").read_text())
    assert run["backends"]["lmm"] == "blind" and "torch" in run["versions"]
