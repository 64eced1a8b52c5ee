"""The runner on a tiny hand-written item list, with the blind baseline (no agent needed)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mereo.errors import DatasetError, QuestionError
from mereo.evals import runner
from mereo.evals.predictors import BlindPredictor, choose_by_labels
from mereo.evals.records import read_records, records_path
from mereo.evals.suites import load_suite, parse_backends
from mereo.knowledge import PartHierarchy


def _numbers(summary: dict) -> str:
    """The summary without wall times, as comparable text."""
    return json.dumps(
        {g: {k: v for k, v in m.items() if k != "seconds"} for g, m in summary.items()}, sort_keys=True
    )


def test_blind_predictor_answers_from_taxonomy(qa_items):
    kb = PartHierarchy.default()
    items = qa_items
    blind = BlindPredictor()
    p = blind.predict(items[1])
    assert p.labels == sorted(set(kb.parts_of("chair")) & set(kb.parts_of("stool")))
    assert p.parts == []
    assert blind.evaluate(
        {
            "op": "difference",
            "args": [{"op": "kb_parts", "object": "chair"}, {"op": "kb_parts", "object": "stool"}],
        }
    ) == set(kb.parts_of("chair")) - set(kb.parts_of("stool"))
    assert blind.evaluate({"op": "whole_to_part", "image": 0}) == set()


def test_choose_by_labels_picks_best_overlap():
    assert choose_by_labels(["seat", "leg"], [["arm"], ["seat"], ["leg", "seat"]]) == 2
    assert choose_by_labels([], [["arm"], ["seat"]]) == 0
    assert choose_by_labels(["wheel"], [], ["it has a seat", "it has a wheel"]) == 1


def test_parse_backends_presets_and_errors():
    assert parse_backends(["segment=oracle"])["segment"] == "oracle"
    assert parse_backends([], "blind")["lmm"] == "blind"
    assert parse_backends([], "oracle")["coseg"] == "oracle"
    with pytest.raises(QuestionError):
        parse_backends(["segmnt=oracle"])
    with pytest.raises(QuestionError):
        parse_backends(["segment"])


@pytest.mark.slow
def test_eval_records_and_summary(items_file: Path, tmp_path: Path, capsys):
    out = tmp_path / "run"
    code = runner.main(["items", str(items_file), "--preset", "blind", "--out", str(out), "--no-progress"])
    assert code == 0
    recs = read_records(records_path(out, "items"))
    assert [r["id"] for r in sorted(recs, key=lambda r: r["index"])] == ["p-0", "p-1", "c-0"]
    by_id = {r["id"]: r for r in recs}
    # the blind answer to identification is all taxonomy parts of "chair": F1 against {leg, seat}
    chair = PartHierarchy.default().parts_of("chair")
    assert by_id["p-0"]["metrics"]["answer_f1"] == pytest.approx(4 / (len(chair) + 2))
    assert "plan_match" not in by_id["p-0"]["metrics"]  # the blind baseline does not plan
    assert by_id["p-0"]["metrics"]["mc_correct"] == 1.0
    assert by_id["p-0"]["metrics"]["giou"] == 0.0  # no masks
    assert all(r["error"] is None and r["backends"]["lmm"] == "blind" and r["seed"] == 0 for r in recs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["all"]["n"] == 3
    assert summary["suite:pairs"]["ap50"] == 0.0
    assert math.isnan(summary["suite:partonomy"]["ap50"])
    assert "answer_f1" in capsys.readouterr().out
    run = json.loads((out / "run.json").read_text())
    assert run["backends"]["lmm"] == "blind" and "torch" in run["versions"]


@pytest.mark.slow
def test_resume_after_torn_write_gives_same_numbers(items_file: Path, tmp_path: Path):
    full = runner.run_eval(
        "items",
        path=str(items_file),
        out=tmp_path / "full",
        backends=parse_backends([], "blind"),
        progress=False,
    )
    out = tmp_path / "crashed"
    blind = parse_backends([], "blind")
    runner.run_eval("items", path=str(items_file), out=out, backends=blind, progress=False)
    path = records_path(out, "items")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][: len(lines[1]) // 2])  # killed while writing the second record
    assert len(read_records(path)) == 1
    again = runner.run_eval(
        "items", path=str(items_file), out=out, backends=parse_backends([], "blind"), progress=False
    )
    assert len(read_records(path)) == 3
    assert _numbers(again) == _numbers(full)
    with pytest.raises(DatasetError):  # same folder, other backends
        runner.run_eval(
            "items", path=str(items_file), out=out, backends=parse_backends([], "oracle"), progress=False
        )


@pytest.mark.slow
def test_killed_parallel_eval_resumes_to_the_same_numbers(tmp_path: Path):
    """SIGKILL a 2-worker `mereo eval` (oracle tools) midway, resume it, compare with a clean run."""
    killed, full, n = tmp_path / "killed", tmp_path / "full", 40
    cmd = [
        sys.executable,
        "-m",
        "mereo.cli",
        "eval",
        "synthparts-partonomy",
        "--limit",
        str(n),
        "--preset",
        "oracle",
        "--workers",
        "2",
        "--out",
        str(killed),
        "--no-progress",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    path = records_path(killed, "synthparts-partonomy")
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists() and path.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker processes
        proc.wait()
    done = len(read_records(path))
    assert 3 <= done < n, f"the run was not killed midway ({done} of {n} records)"
    oracle = parse_backends([], "oracle")
    items = load_suite("synthparts-partonomy", "test", n)
    # one pass finishes the killed run and makes a clean one (two configurations, same backends)
    out = runner.run_configs(
        items,
        {"resumed": oracle, "clean": oracle},
        {"resumed": killed, "clean": full},
        "synthparts-partonomy",
        settings={"split": "test", "limit": n},
        progress=False,
    )
    resumed, clean = out["resumed"], out["clean"]
    assert len({r["id"] for r in read_records(path)}) == n
    assert _numbers(resumed) == _numbers(clean)


def test_bad_inputs_raise_mereo_errors(tmp_path: Path):
    with pytest.raises(QuestionError):
        runner.run_eval("mixedparts", out=tmp_path / "x")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": 1}]')
    with pytest.raises(DatasetError):
        runner.run_eval("items", path=str(bad), out=tmp_path / "y")


def _pid_work(delay: float):
    """``runner._work`` that also notes which process ran each item (inherited by forked helpers)."""
    work = runner._work

    def wrapped(task):
        time.sleep(delay)  # long enough that the forked helper gets items too
        return [{**r, "pid": os.getpid()} for r in work(task)]

    return wrapped


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_two_workers_do_every_item_once_with_the_numbers_of_one(tmp_path: Path, monkeypatch, start_method):
    """workers=2: the main process and a helper share the items; each is recorded exactly once."""
    if start_method == "fork" and start_method != runner.helper_start_method(1):
        pytest.skip("fork helpers are used on Linux only")
    n, oracle = 12, parse_backends([], "oracle")
    items = load_suite("synthparts-partonomy", "test", n)
    one = runner.run_configs(
        items,
        {"run": oracle},
        {"run": tmp_path / "one"},
        "synthparts-partonomy",
        settings={"split": "test"},
        progress=False,
    )["run"]
    if start_method == "fork":
        monkeypatch.setattr(runner, "_work", _pid_work(0.05))
    two = runner.run_configs(
        items,
        {"run": oracle},
        {"run": tmp_path / "two"},
        "synthparts-partonomy",
        workers=2,
        threads=1,
        start_method=start_method,
        settings={"split": "test"},
        progress=False,
    )["run"]
    recs = read_records(records_path(tmp_path / "two", "synthparts-partonomy"))
    assert sorted(r["index"] for r in recs) == list(range(n))
    assert all(r["error"] is None for r in recs)
    assert _numbers(two) == _numbers(one)
    if start_method == "fork":
        assert len({r["pid"] for r in recs}) == 2  # both processes took items


@pytest.mark.slow
def test_items_of_a_dead_helper_are_redone_by_the_main_process(tmp_path: Path, monkeypatch):
    if runner.helper_start_method(1) != "fork":
        pytest.skip("needs fork helpers (Linux)")
    main, work, died = os.getpid(), _pid_work(0.05), tmp_path / "helper-died"

    def dies_in_helper(task):
        if os.getpid() != main:
            died.write_text(str(task[0]))
            os._exit(3)  # as if killed while running its first item
        return work(task)

    monkeypatch.setattr(runner, "_work", dies_in_helper)
    n, oracle = 6, parse_backends([], "oracle")
    items = load_suite("synthparts-partonomy", "test", n)
    runner.run_configs(
        items,
        {"run": oracle},
        {"run": tmp_path / "run"},
        "synthparts-partonomy",
        workers=2,
        threads=1,
        settings={"split": "test"},
        progress=False,
    )
    recs = read_records(records_path(tmp_path / "run", "synthparts-partonomy"))
    assert sorted(r["index"] for r in recs) == list(range(n))
    assert {r["pid"] for r in recs} == {main}
    assert died.exists()  # the helper did take an item, which the main process then ran
