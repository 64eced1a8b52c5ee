"""The Ray engine of the eval runner: ``mereo eval ... --engine ray [--address ADDR]``.

Items are scheduled on Ray actors, each of which builds the predictors once (the runner's worker
initialiser: one agent per configuration, sharing one feature cache) and then runs items with the
runner's own item function, so every record is computed exactly as with the local engine (same
seeding per item). Records come back to the driver, which writes them as they arrive: a killed
run keeps what was written and a restarted run skips it, as with the local pool. An actor that
dies has its items rescheduled on a fresh actor.

Without ``--address`` a local Ray is started for the run (``num_cpus`` = the actors) and shut down
after it; with one (``ray://host:10001`` or ``auto``), the run joins that cluster, whose nodes must
have ``mereo`` installed. ``--gpus-per-worker`` asks Ray for GPUs for each actor.
Ray is an optional dependency: ``pip install 'mereo[ray]'``.
"""

from __future__ import annotations

import argparse
import os
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mereo.errors import MereoError

ENGINES = ("local", "ray")
#: Items kept in flight per actor (one running, one queued, so an actor never waits for the driver).
IN_FLIGHT = 2
#: Record keys (at any depth) that differ between runs of the same items: wall times, and whether
#: the feature cache was hit (it depends on which worker ran which items before).


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine``, ``--address`` and ``--gpus-per-worker`` (for ``mereo eval`` and ``mereo ablate``)."""
    p.add_argument(
        "--engine",
        default="local",
        choices=ENGINES,
        help="local: this process and a process pool (default); ray: Ray actors (--workers of them)",
    )
    p.add_argument("--address", default=None, help="Ray cluster to join (default: start a local Ray)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs Ray reserves for each actor")


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``run_configs`` keywords from parsed :func:`add_engine_args` arguments."""
    if args.engine != "ray" and (args.address or args.gpus_per_worker):
        raise MereoError("--address and --gpus-per-worker need --engine ray")
    return {"engine": args.engine, "address": args.address, "gpus": args.gpus_per_worker}


def import_ray() -> Any:
    """The ``ray`` module, or a MereoError that says how to install it."""
    try:
        import ray
    except ImportError as e:
        raise MereoError("the Ray engine needs Ray: pip install 'mereo[ray]' (or pip install ray)") from e
    return ray


class _Worker:
    """A Ray actor: builds the predictors once, then runs tasks with the runner's item function."""

    def __init__(self, init_fn: Callable[..., None], init_args: tuple[Any, ...]):
        init_fn(*init_args)

    def ready(self) -> int:
        return os.getpid()

    def work(self, work_fn: Callable[[Any], Any], task: Any) -> Any:
        return work_fn(task)


def _package_root() -> str:
    """The folder that holds the ``mereo`` package (put on the actors' PYTHONPATH for a local Ray)."""
    return str(Path(__file__).resolve().parents[2])


def run_on_ray(
    tasks: Sequence[Any],
    init_fn: Callable[..., None],
    init_args: tuple[Any, ...],
    work_fn: Callable[[Any], Any],
    emit: Callable[[Any], None],
    *,
    actors: int = 1,
    address: str | None = None,
    gpus: float = 0.0,
) -> None:
    """Run ``work_fn(task)`` for every task on Ray actors; ``emit(result)`` here, as each finishes.

    Args:
        tasks: picklable tasks (the runner's ``(index, item dict, config names)``).
        init_fn: run once in each actor with ``init_args`` (builds the predictors).
        work_fn: runs one task in an actor; must be importable (pickled by reference).
        emit: called in this process with each task's result, in completion order.
        actors: how many actors (at most one per task).
        address: a Ray cluster to join; None starts a local Ray for this run.
        gpus: GPUs each actor reserves (0: CPU only).

    Raises:
        MereoError: Ray is missing, or an actor died twice on the same task.
    """
    ray = import_ray()
    if not tasks:
        return
    n_actors = max(1, min(actors, len(tasks)))
    started = False
    if not ray.is_initialized():
        env = {"PYTHONPATH": os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH")) if p)}
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM", "OMP_NUM_THREADS"):
            if key in os.environ:
                env[key] = os.environ[key]
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            ray.init(address=address, runtime_env={"env_vars": env}, **kwargs)
        else:
            ray.init(num_cpus=n_actors, num_gpus=None, runtime_env={"env_vars": env}, **kwargs)
        started = True
    actor_cls = ray.remote(num_cpus=1, num_gpus=gpus or 0, max_concurrency=1)(_Worker)
    workers: list[Any] = []
    pending: dict[Any, tuple[int, Any]] = {}  # object ref -> (task number, actor)
    queue: deque[int] = deque(range(len(tasks)))
    retried: set[int] = set()

    def submit(actor: Any) -> None:
        if queue:
            n = queue.popleft()
            pending[actor.work.remote(work_fn, tasks[n])] = (n, actor)

    try:
        for _ in range(n_actors):
            workers.append(actor_cls.remote(init_fn, init_args))
        for _ in range(IN_FLIGHT):
            for actor in workers:
                submit(actor)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            n, actor = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as e:
                if n in retried:
                    raise MereoError(f"a Ray actor died twice on task {n}: {e}") from e
                retried.add(n)
                queue.appendleft(n)
                if actor in workers:  # replace the dead actor; its other tasks fail and come back here
                    workers.remove(actor)
                    fresh = actor_cls.remote(init_fn, init_args)
                    workers.append(fresh)
                    submit(fresh)
                continue
            emit(result)
            if actor in workers:
                submit(actor)
    finally:
        for actor in workers:
            ray.kill(actor)
        if started:
            ray.shutdown()
