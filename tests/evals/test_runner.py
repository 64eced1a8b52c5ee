"""The runner on a tiny hand-written item list, with the blind baseline (no agent needed)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from mereo.errors import DatasetError, MereoError, QuestionError
from mereo.evals import runner
from mereo.evals.records import read_records, records_path
from mereo.evals.suites import load_suite, parse_backends
from tests.evals.evalfixtures import kill_midway, make_items, numbers


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
    assert numbers(again) == numbers(full)
    with pytest.raises(DatasetError):  # same folder, other backends
        runner.run_eval(
            "items", path=str(items_file), out=out, backends=parse_backends([], "oracle"), progress=False
        )


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
    path = records_path(killed, "synthparts-partonomy")
    done = kill_midway(cmd, env, path, 3)
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
    assert numbers(resumed) == numbers(clean)


def test_bad_inputs_raise_mereo_errors(tmp_path: Path):
    with pytest.raises(QuestionError):
        runner.run_eval("mixedparts", out=tmp_path / "x")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": 1}]')
    with pytest.raises(DatasetError):
        runner.run_eval("items", path=str(bad), out=tmp_path / "y")


def test_item_key_names_the_question_not_its_position(tmp_path: Path):
    a, b, c = make_items(tmp_path)
    key = runner.item_key(a, "test", 0)
    assert key.startswith("p-0@") and key == runner.item_key(a.model_copy(deep=True), "test", 0)
    moved = a.model_copy(deep=True)
    moved.images[0].path = "/elsewhere/" + Path(a.images[0].path).name  # a moved image cache
    assert runner.item_key(moved, "test", 0) == key
    assert runner.item_key(a, "val", 0) != key and runner.item_key(a, "test", 1) != key
    other = a.model_copy(update={"question": a.question + " Be brief."})
    assert runner.item_key(other, "test", 0) != key
    partner = c.model_copy(deep=True)
    partner.images[1].path = str(Path(c.images[1].path).with_name("elsewhere.png"))  # same id, new image
    assert runner.item_key(partner, "test", 0) != runner.item_key(c, "test", 0)


@pytest.mark.slow  # three runs of the agent suite (blind baseline)
def test_resume_with_another_limit_reuses_exactly_the_matching_items(tmp_path: Path):
    """Issue 14 item 3: ``--limit 16 --preset blind`` then ``--limit 40`` into the same ``--out``."""
    from mereo.evals import cli, report

    out, fresh = tmp_path / "resumed", tmp_path / "fresh"
    args = ["agent", "--preset", "blind", "--no-progress"]
    assert cli.main([*args, "--limit", "16", "--out", str(out)]) == 0
    first = {r["id"]: r for r in read_records(records_path(out, "agent"))}
    assert cli.main([*args, "--limit", "40", "--out", str(out)]) == 0
    assert cli.main([*args, "--limit", "40", "--out", str(fresh)]) == 0
    want = {r["id"]: r for r in read_records(records_path(fresh, "agent"))}
    got = {r["id"]: r for r in read_records(records_path(out, "agent"))}
    assert len(want) == 40 and set(want) <= set(got)
    shared = set(first) & set(want)
    assert 0 < len(shared) < 16  # some questions of the 16 are among the 40, some are not
    for k, r in want.items():  # every id names the same question in both folders
        assert (got[k]["question"], got[k]["images"]) == (r["question"], r["images"])
    # the matching items were not asked again: one line per item of either run
    assert len(read_records(records_path(out, "agent"))) == 16 + 40 - len(shared)
    summary = json.loads((out / "summary.json").read_text())
    assert numbers(summary) == numbers(json.loads((fresh / "summary.json").read_text()))
    assert summary["all"]["n"] == 40
    with pytest.raises(MereoError, match="other settings"):  # other seed: every answer may change
        cli.main([*args, "--limit", "40", "--seed", "1", "--out", str(out)])
    _, recs = report.load_run(out)  # the report reads the 40 items of the last run, in its order
    assert [r["id"] for r in recs] == [r["id"] for r in sorted(want.values(), key=lambda r: r["index"])]
