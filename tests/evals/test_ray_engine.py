"""The Ray engine: tasks on actors, a dead actor's tasks redone, eval records identical to the local
engine's, and killed or torn runs resumed. A local Ray with 2 CPUs is started once for the module."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mereo.evals import runner
from mereo.evals.compare import compare_runs, strip_volatile
from mereo.evals.ray_engine import run_on_ray
from mereo.evals.records import read_records, records_path
from mereo.evals.suites import load_suite, parse_backends
from tests.evals.evalfixtures import kill_midway

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    env |= {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield
    ray.shutdown()


# -- the engine on plain functions (fast) ---------------------------------------------------------
_STATE: dict[str, Any] = {}


def _init(offset: int) -> None:
    _STATE["offset"] = offset
    _STATE["pid"] = os.getpid()


def _square(task: tuple[int, str]) -> tuple[int, int, int]:
    n, marker = task
    if marker and not Path(marker).exists():  # die once, the first time this task is run
        Path(marker).write_text("died")
        os._exit(1)
    return n, n * n + _STATE["offset"], _STATE["pid"]


def test_every_task_runs_once_on_the_actors() -> None:
    out: list[tuple[int, int, int]] = []
    run_on_ray([(n, "") for n in range(12)], _init, (5,), _square, out.append, actors=2)
    assert sorted(r[:2] for r in out) == [(n, n * n + 5) for n in range(12)]
    assert len({r[2] for r in out}) == 2 and os.getpid() not in {r[2] for r in out}


def test_a_dead_actors_tasks_are_redone_on_a_fresh_one(tmp_path: Path) -> None:
    tasks = [(n, str(tmp_path / "died") if n == 3 else "") for n in range(6)]
    out: list[tuple[int, int, int]] = []
    run_on_ray(tasks, _init, (0,), _square, out.append, actors=2)
    assert sorted(r[:2] for r in out) == [(n, n * n) for n in range(6)]
    assert (tmp_path / "died").read_text() == "died"
    assert len(out) == 6 and len({r[2] for r in out}) >= 2  # each task emitted once, by live actors


def test_no_tasks_is_a_no_op() -> None:
    out: list[Any] = []
    run_on_ray([], _init, (0,), _square, out.append, actors=2)
    assert out == []


def test_compare_ignores_only_wall_times_and_cache_hits(tmp_path: Path) -> None:
    rec = {
        "id": "a",
        "seconds": 1.0,
        "prediction": {"steps": [{"node": "x", "seconds": 2, "cache_hit": True}]},
    }
    assert strip_volatile(rec) == {"id": "a", "prediction": {"steps": [{"node": "x"}]}}
    for name, score in (("a", 0.5), ("b", 0.6)):
        (tmp_path / name).mkdir()
        records_path(tmp_path / name, "agent").write_text(f'{{"id": "x", "metrics": {{"f1": {score}}}}}\n')
    assert compare_runs(tmp_path / "a", tmp_path / "a", "agent") == []
    assert compare_runs(tmp_path / "a", tmp_path / "b", "agent") == ["item x: records differ in metrics"]


# -- whole evals (slow: each actor builds the embedded agent) ----------------------------------------
def _on_ray(items: Any, backends: Any, out: Path, suite: str, settings: dict[str, Any]) -> None:
    """One configuration's eval on the Ray engine (2 actors, 1 thread each), into ``out``."""
    runner.run_configs(
        items,
        {"run": backends},
        {"run": out},
        suite,
        workers=2,
        threads=1,
        settings=settings,
        progress=False,
        engine="ray",
    )


@pytest.mark.slow
def test_agent_eval_on_ray_equals_local_and_a_torn_run_resumes(tmp_path: Path) -> None:
    """`mereo eval agent --split test --limit 8 --engine ray --workers 2` vs the local engine."""
    items = load_suite("agent", "test", 8)
    backends = parse_backends([], "default")
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    settings = {"split": "test", "limit": 8}
    runner.run_configs(
        items, {"run": backends}, {"run": local}, "agent", threads=1, settings=settings, progress=False
    )
    _on_ray(items, backends, on_ray, "agent", settings)
    assert compare_runs(local, on_ray, "agent") == []
    # a run cut off after 3 records and a torn fourth line: the resumed run redoes only the rest
    path = records_path(on_ray, "agent")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3]) + lines[3][:40])
    _on_ray(items, backends, on_ray, "agent", settings)
    assert len(read_records(path)) == 8
    assert compare_runs(local, on_ray, "agent") == []


@pytest.mark.slow
def test_killed_ray_eval_resumes_to_the_same_records(tmp_path: Path) -> None:
    """SIGKILL `mereo eval --engine ray` (oracle tools) midway, resume it, compare with a local run."""
    killed, local, n = tmp_path / "killed", tmp_path / "local", 16
    cmd = [sys.executable, "-m", "mereo.cli", "eval", "synthparts-partonomy", "--limit", str(n)]
    cmd += ["--preset", "oracle", "--engine", "ray", "--workers", "2", "--threads", "1"]
    cmd += ["--out", str(killed), "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "RAY_ADDRESS": ""}
    path = records_path(killed, "synthparts-partonomy")
    done = kill_midway(cmd, env, path, 2, poll=0.05)
    assert 2 <= done < n, f"the run was not killed midway ({done} of {n} records)"
    items = load_suite("synthparts-partonomy", "test", n)
    oracle = parse_backends([], "oracle")
    settings = {"split": "test", "limit": n, "path": None, "images_root": None}
    _on_ray(items, oracle, killed, "synthparts-partonomy", settings)
    runner.run_configs(
        items,
        {"run": oracle},
        {"run": local},
        "synthparts-partonomy",
        threads=1,
        settings=settings,
        progress=False,
    )
    assert len({r["id"] for r in read_records(path)}) == n
    assert compare_runs(local, killed, "synthparts-partonomy") == []
