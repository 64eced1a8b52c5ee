"""The worker pool: helpers share the items with the main process, and a dead helper's items are
redone (run through ``run_configs`` with oracle tools on SynthParts)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mereo.evals import pool, runner
from mereo.evals.records import read_records, records_path
from mereo.evals.suites import load_suite, parse_backends
from tests.evals.evalfixtures import numbers


def _pid_work(delay: float):
    """``runner._work`` that also notes which process ran each item (inherited by forked helpers)."""
    work = runner._work

    def wrapped(task):
        time.sleep(delay)  # long enough that the forked helper gets items too
        return [{**r, "pid": os.getpid()} for r in work(task)]

    return wrapped


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_two_workers_do_every_item_once_with_the_numbers_of_one(tmp_path: Path, monkeypatch, start_method):
    """workers=2: the main process and a helper share the items; each is recorded exactly once."""
    if start_method == "fork" and start_method != pool.helper_start_method(1):
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
    assert numbers(two) == numbers(one)
    if start_method == "fork":
        assert len({r["pid"] for r in recs}) == 2  # both processes took items


def test_items_of_a_dead_helper_are_redone_by_the_main_process(tmp_path: Path, monkeypatch):
    if pool.helper_start_method(1) != "fork":
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
