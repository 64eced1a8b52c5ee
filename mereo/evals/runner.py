"""The resumable, parallel eval runner: ``mereo eval SUITE`` and ``mereo bench eval``.

Each finished item becomes one JSONL record under ``--out`` (prediction, gold, metrics, seconds,
backends and versions, seed), appended as it finishes; a restarted run skips the items already
recorded, so a crash loses nothing and the final numbers equal those of an uninterrupted run
(every item is seeded the same way wherever it runs, and summaries are computed from the
records in item order). With ``--workers K`` the main process, already warm, is one of the K
workers: it builds its predictors and starts on the items at once, while K-1 helper processes
start; every process takes the next unclaimed item from a shared counter, and the helpers send
their records back, so only the main process writes them. Helpers are forked from the main
process after it has built its predictors (no imports, no second build) when each process runs
one torch thread (the default on 2 cores with 2 workers: OpenMP hangs in a forked child that
asks for more threads); otherwise they are spawned and build their own. Items a helper took
but never sent back (it died) are redone by the main process. Several backend configurations
can run in one pass (the ablation grid): a worker then runs every configuration on an item
before the next item, sharing one image-feature cache between them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mereo.data.items import QAItem
from mereo.evals.ray_engine import add_engine_args, engine_options
from mereo.evals.records import RecordWriter, check_run_file, latest_by_id, read_records, records_path
from mereo.evals.scoring import gold_record, item_metrics, summarize, summary_table
from mereo.evals.suites import PRESETS, SUITE_NAMES, load_suite, parse_backends

# per-process state of a worker: config name -> predictor
_PREDICTORS: dict[str, Any] = {}
_META: dict[str, dict[str, Any]] = {}
_SEED = 0


def versions(backends: dict[str, str]) -> dict[str, Any]:
    """mereo and torch versions, and the sha256 (first 12) of each embedded checkpoint a backend names."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    try:
        mereo_version = version("mereo")
    except PackageNotFoundError:  # pragma: no cover
        mereo_version = "unknown"
    out: dict[str, Any] = {"mereo": mereo_version, "torch": torch.__version__}
    ckpt_dir = Path(__file__).resolve().parent.parent / "checkpoints"
    for family, name in sorted(backends.items()):
        manifest = ckpt_dir / f"{name.split(':')[0]}.json"
        if manifest.exists():
            try:
                out[f"{family}:{name}"] = str(json.loads(manifest.read_text()).get("sha256", ""))[:12]
            except (json.JSONDecodeError, OSError):
                out[f"{family}:{name}"] = "unreadable"
    return out


def _init_worker(
    configs: dict[str, dict[str, str]], seed: int, threads: int, meta: dict[str, dict[str, Any]]
) -> None:
    """Build one predictor per configuration, all sharing one feature cache.

    ``meta`` maps a config name to what every record of it carries (backends, versions).
    """
    global _SEED
    import torch

    from mereo.cache import FeatureCache
    from mereo.evals.predictors import build_predictor

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(max(1, threads))
    _SEED = seed
    cache = FeatureCache(max_items=1024)
    _PREDICTORS.clear()
    _META.clear()
    _META.update(meta)
    for name, backends in configs.items():
        try:
            _PREDICTORS[name] = build_predictor(backends, cache=cache)
        except Exception as e:  # e.g. a missing checkpoint: every item of this config records the error
            _PREDICTORS[name] = _Unbuilt(f"{type(e).__name__}: {e}")


class _Unbuilt:
    """Stands in for a predictor whose backends could not be built; raises on every item."""

    def __init__(self, message: str):
        self.message = message

    def predict(self, item: QAItem) -> Any:
        raise RuntimeError(f"the backends could not be built: {self.message}")


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _run_one(name: str, item: QAItem, index: int) -> dict[str, Any]:
    pred_obj = _PREDICTORS[name]
    _seed_everything(_SEED)
    t0 = time.perf_counter()
    error = None
    try:
        pred = pred_obj.predict(item).to_dict()
    except Exception as e:  # one failing item must not end the run; it is recorded and scored as empty
        error = f"{type(e).__name__}: {e}"
        pred = {
            "text": "",
            "labels": [],
            "parts": [],
            "plan": None,
            "choice": None,
            "steps": [],
            "traceback": traceback.format_exc(limit=6),
        }
    seconds = time.perf_counter() - t0
    gold = gold_record(item)
    return {
        "index": index,
        "id": item.id,
        "suite": item.suite,
        "question_type": item.question_type,
        "question": item.question,
        "images": [im.path for im in item.images],
        "sizes": [[im.height, im.width] for im in item.images],
        "prediction": pred,
        "gold": gold,
        "metrics": item_metrics(pred, gold),
        "seconds": round(seconds, 4),
        "config": name,
        **_META.get(name, {}),
        "seed": _SEED,
        "error": error,
    }


def _work(task: tuple[int, dict[str, Any], list[str]]) -> list[dict[str, Any]]:
    index, raw, names = task
    item = QAItem.model_validate(raw)
    return [_run_one(name, item, index) for name in names]


def run_configs(
    items: Sequence[QAItem],
    configs: dict[str, dict[str, str]],
    out_dirs: dict[str, Path],
    suite: str,
    *,
    workers: int = 1,
    seed: int = 0,
    threads: int | None = None,
    settings: dict[str, Any] | None = None,
    progress: bool = True,
    timings: dict[str, float] | None = None,
    start_method: str | None = None,
    engine: str = "local",
    address: str | None = None,
    gpus: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """Run every configuration on every item not yet recorded, then summarise each run.

    Args:
        items: the questions, in a fixed order (record ``index`` = position).
        configs: config name -> backends dict.
        out_dirs: config name -> its run folder (``run.json``, ``<suite>.jsonl``, ``summary.json``).
        suite: the suite name (names the JSONL file).
        workers: processes; 1 runs in this process, K runs in this process and K-1 helpers.
        seed: seeds python, numpy and torch before every item.
        threads: torch threads per worker (default: CPU cores / workers).
        settings: extra keys for ``run.json`` (split, limit, path, ...).
        progress: show a tqdm bar.
        timings: filled with ``start``, ``first`` (first item done), ``last`` (last item done) and
            ``end`` (summaries written), from ``time.perf_counter()``.
        start_method: how helpers start, ``"fork"`` (only with one thread) or ``"spawn"``
            (default: see :func:`helper_start_method`).
        engine: ``"local"`` (this process and helpers) or ``"ray"`` (``workers`` Ray actors; see
            :mod:`mereo.evals.ray_engine`); ``address`` and ``gpus`` (per actor) are Ray's.

    Returns:
        config name -> summary (see :func:`mereo.evals.scoring.summarize`).
    """
    from tqdm import tqdm

    threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
    todo: dict[int, list[str]] = {}
    writers: dict[str, RecordWriter] = {}
    meta = {name: {"backends": b, "versions": versions(b)} for name, b in configs.items()}
    for name in configs:
        check_run_file(
            out_dirs[name], {**(settings or {}), "suite": suite, "seed": seed, "config": name, **meta[name]}
        )
        path = records_path(out_dirs[name], suite)
        done = {i for i, r in latest_by_id(read_records(path)).items() if not r.get("error")}
        for index, item in enumerate(items):
            if item.id not in done:
                todo.setdefault(index, []).append(name)
        writers[name] = RecordWriter(path)
    tasks = [(i, items[i].model_dump(mode="json"), names) for i, names in sorted(todo.items())]
    bar = tqdm(total=len(tasks), desc=f"eval {suite}", unit="item", disable=not progress or not tasks)
    clock = timings if timings is not None else {}
    clock["start"] = time.perf_counter()
    try:
        if engine == "ray":
            from mereo.evals.ray_engine import run_on_ray

            emit = lambda recs: _write(recs, writers, bar, clock)  # noqa: E731
            init = (configs, seed, threads, meta)
            run_on_ray(tasks, _init_worker, init, _work, emit, actors=workers, address=address, gpus=gpus)
        elif workers <= 1:
            _init_worker(configs, seed, threads, meta)
            for recs in map(_work, tasks):
                _write(recs, writers, bar, clock)
        else:
            method = start_method or helper_start_method(threads)
            if method == "fork" and threads != 1:  # see helper_start_method: it would hang
                method = "spawn"
            _run_shared(
                tasks,
                workers,
                (configs, seed, threads, meta),
                method,
                lambda recs: _write(recs, writers, bar, clock),
            )
    finally:
        bar.close()
        for w in writers.values():
            w.close()
    summaries = {name: finish(out_dirs[name], suite, [it.id for it in items]) for name in configs}
    for name in configs:
        failed = [
            r
            for r in latest_by_id(read_records(records_path(out_dirs[name], suite))).values()
            if r.get("error")
        ]
        if failed:
            print(
                f"warning: {len(failed)} item(s) of {name} failed and count as empty answers; first: "
                f"{failed[0]['error']}",
                file=sys.stderr,
            )
    clock["end"] = time.perf_counter()
    return summaries


def helper_start_method(threads: int) -> str:
    """``"fork"`` on Linux when each process runs one torch thread, else ``"spawn"``.

    A forked helper inherits the imported modules and the built predictors of the main process, so
    it starts at once; but OpenMP (torch's CPU backend) hangs in a forked child that runs more than
    one thread once the parent has used its thread pool, so more threads need spawned helpers.
    """
    import multiprocessing as mp

    if threads == 1 and sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods():
        return "fork"
    return "spawn"


def _claim(counter: Any) -> int:
    """The index of the next unclaimed task (shared by the main process and its helpers)."""
    with counter.get_lock():
        index = int(counter.value)
        counter.value = index + 1
    return index


def _helper(
    conn: Any,
    counter: Any,
    tasks: list[tuple[int, dict[str, Any], list[str]]],
    init: tuple[Any, ...] | None,
    threads: int,
    parent: int,
    inherited: list[Any],
) -> None:
    """A helper process: claim tasks until none are left, send ``(task number, records)`` back.

    ``init`` is ``_init_worker``'s arguments for a spawned helper; a forked one (``None``) has the
    predictors of the main process already and only sets its torch threads; it closes the
    ``inherited`` read ends of the helpers forked before it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the main process stops the helpers
    for other in inherited:
        other.close()
    if init is None:
        import torch

        torch.set_num_threads(max(1, threads))
    else:
        _init_worker(*init)
    while os.getppid() == parent:  # a helper whose main process has died stops
        n = _claim(counter)
        if n >= len(tasks):
            break
        conn.send((n, _work(tasks[n])))
    conn.close()


def _widen(conn: Any) -> None:
    """Let a helper's pipe hold about 1 MiB (Linux), so it rarely waits for the busy main process."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):  # pragma: no cover - other systems, or a lower limit
        pass


def _run_shared(
    tasks: list[tuple[int, dict[str, Any], list[str]]],
    workers: int,
    init: tuple[Any, ...],
    method: str,
    emit: Any,
) -> None:
    """Run ``tasks`` in this process and ``workers - 1`` helpers; ``emit(records)`` here, per task.

    The main process starts on the tasks as soon as its predictors are built; a helper takes the
    next unclaimed task once it is ready. Tasks a helper claimed but never sent (it died) are run
    here at the end. Ctrl-C or an error here stops the helpers; what was emitted stays written.
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx: Any = mp.get_context(method)
    forked = method == "fork"
    counter = ctx.Value("q", 0)
    if forked:  # built before the fork, so that the helpers inherit the predictors
        _init_worker(*init)
    helpers: list[Any] = []
    conns: list[Any] = []  # read ends of the helpers still running
    done: set[int] = set()
    finished = False

    def collect(timeout: float) -> None:
        ready: list[Any] = wait(conns, timeout)
        for conn in ready:
            try:
                n, recs = conn.recv()
            except (EOFError, OSError):  # the helper has ended (done, or died)
                conns.remove(conn)
                conn.close()
                continue
            emit(recs)
            done.add(n)

    try:
        for _ in range(min(workers - 1, len(tasks) - 1)):  # no helper without a task for it
            reader, writer = ctx.Pipe(duplex=False)
            _widen(writer)
            proc = ctx.Process(
                target=_helper,
                daemon=True,
                name="mereo-eval-helper",
                args=(
                    writer,
                    counter,
                    tasks,
                    None if forked else init,
                    init[2],
                    os.getpid(),
                    list(conns) if forked else [],
                ),
            )
            proc.start()
            writer.close()  # the helper holds the only write end: its end reads as EOF here
            helpers.append(proc)
            conns.append(reader)
        if not forked:  # spawned helpers import and build while this process builds and works
            _init_worker(*init)
        while (n := _claim(counter)) < len(tasks):
            emit(_work(tasks[n]))
            done.add(n)
            collect(0)
        while conns and len(done) < len(tasks):  # the helpers' last tasks
            collect(1.0)
        for n in range(len(tasks)):  # claimed by a helper that died before sending them
            if n not in done:
                emit(_work(tasks[n]))
                done.add(n)
        finished = True
    finally:
        for proc in helpers:
            proc.join(timeout=5 if finished else 0)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for conn in conns:
            conn.close()


def _write(
    recs: list[dict[str, Any]], writers: dict[str, RecordWriter], bar: Any, clock: dict[str, float]
) -> None:
    for r in recs:
        writers[r["config"]].write(r)
    bar.update(1)
    clock.setdefault("first", time.perf_counter())
    clock["last"] = time.perf_counter()


def finish(out_dir: Path, suite: str, ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Summarise the records of a run folder (restricted to ``ids``) into ``summary.json``/``.md``."""
    recs = latest_by_id(read_records(records_path(out_dir, suite)))
    chosen = [recs[i] for i in ids if i in recs] if ids is not None else list(recs.values())
    summary = summarize(chosen)
    (Path(out_dir) / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    (Path(out_dir) / "summary.md").write_text(summary_table(summary) + "\n")
    return summary


def run_eval(
    suite: str,
    *,
    split: str = "test",
    limit: int | None = None,
    workers: int = 1,
    out: str | Path | None = None,
    backends: dict[str, str] | None = None,
    seed: int = 0,
    path: str | None = None,
    images_root: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    **engine: Any,
) -> dict[str, Any]:
    """Load a suite and run one backend configuration on it; returns the summary.

    ``engine`` holds the Ray engine's keywords of :func:`run_configs` (``engine``, ``address``, ``gpus``).
    """
    backends = backends or parse_backends(None)
    items = load_suite(suite, split, limit, seed, path, images_root)
    out_dir = Path(out or f"runs/eval-{suite}-{split}")
    settings = {"split": split, "limit": limit, "path": path, "images_root": images_root}
    return run_configs(
        items,
        {"run": backends},
        {"run": out_dir},
        suite,
        workers=workers,
        seed=seed,
        threads=threads,
        settings=settings,
        progress=progress,
        **engine,
    )["run"]


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Evaluate the agent on a suite; resumable.")
    p.add_argument("suite", choices=SUITE_NAMES)
    p.add_argument("path", nargs="?", help="dataset file (partonomy-core, mixedparts, items)")
    p.add_argument("--images", dest="images_root", help="folder of the source images (mixedparts)")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, help="at most N items")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1: this process)")
    p.add_argument(
        "--threads", type=int, default=None, help="torch threads per worker (default cores/workers)"
    )
    p.add_argument("--out", default=None, help="run folder (default runs/eval-SUITE-SPLIT)")
    p.add_argument("--preset", default="default", choices=tuple(PRESETS))
    p.add_argument(
        "--backend",
        nargs="*",
        default=[],
        metavar="FAMILY=NAME",
        help="e.g. segment=oracle coseg=per-image lmm=blind",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    add_engine_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """``mereo eval SUITE ...``: run, print the summary table, leave records under ``--out``."""
    args = _parser("mereo eval").parse_args(argv)
    backends = parse_backends(args.backend, args.preset)
    out = args.out or f"runs/eval-{args.suite}-{args.split}"
    summary = run_eval(
        args.suite,
        split=args.split,
        limit=args.limit,
        workers=args.workers,
        out=out,
        backends=backends,
        seed=args.seed,
        path=args.path,
        images_root=args.images_root,
        threads=args.threads,
        progress=not args.no_progress,
        **engine_options(args),
    )
    print(f"backends: {', '.join(f'{k}={v}' for k, v in backends.items())}")
    print(summary_table(summary))
    print(f"records and summary in {out}")
    return 0


def bench_main(argv: list[str] | None = None) -> int:
    """``mereo bench eval``: time the same eval with 1 and with K workers; print the speedup.

    The main process loads the items and the MiniLM encoder (used by the summary) before the
    clock starts; the times include the workers' start-up (imports, building the agent). With
    ``--engine ray`` the same eval also runs on 1 and K Ray actors (a local Ray started per run).
    """
    p = argparse.ArgumentParser(prog="mereo bench eval", description=bench_main.__doc__)
    p.add_argument(
        "--suite",
        default="agent",
        choices=[s for s in SUITE_NAMES if s not in ("partonomy-core", "mixedparts")],
    )
    p.add_argument("--path", default=None)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--split", default="test")
    p.add_argument("--preset", default="default", choices=tuple(PRESETS))
    p.add_argument("--backend", nargs="*", default=[])
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per process in both runs (default: cores // workers)",
    )
    p.add_argument("--engine", default="local", choices=("local", "ray"), help="ray: also time Ray actors")
    args = p.parse_args(argv)
    backends = parse_backends(args.backend, args.preset)
    items = load_suite(args.suite, args.split, args.n, 0, args.path)
    from mereo.text import get_encoder

    get_encoder().encode(["warm up"])
    times, items_s, numbers = {}, {}, {}
    runs = [("local", 1), ("local", args.workers)]
    runs += [("ray", 1), ("ray", args.workers)] if args.engine == "ray" else []
    with tempfile.TemporaryDirectory(prefix="mereo-bench-") as tmp:
        for engine, k in runs:
            clock: dict[str, float] = {}
            t0 = time.perf_counter()
            run_dir = Path(tmp) / f"{engine}{k}"
            summary = run_configs(
                items,
                {"run": backends},
                {"run": run_dir},
                args.suite,
                workers=k,
                settings={"split": args.split},
                progress=True,
                timings=clock,
                threads=args.threads,
                engine=engine,
            )["run"]
            times[engine, k] = time.perf_counter() - t0
            span = clock.get("last", t0) - clock.get("first", t0)
            items_s[engine, k] = (len(items) - 1) / max(1e-9, span)
            no_time = {g: {m: v for m, v in d.items() if m != "seconds"} for g, d in summary.items()}
            numbers[engine, k] = json.dumps(no_time, sort_keys=True)
            who = f"workers={k}" if engine == "local" else f"ray actors={k}"
            print(
                f"{who}: {len(items)} items in {times[engine, k]:.1f} s (start-up included); "
                f"{items_s[engine, k]:.2f} items/s once started",
                flush=True,
            )
    k1, kw = ("local", 1), ("local", args.workers)
    print(
        f"speedup with {args.workers} workers: {times[k1] / times[kw]:.2f}x wall time, "
        f"{items_s[kw] / items_s[k1]:.2f}x items/s once started (cores: {os.cpu_count()}, "
        f"backends: {', '.join(f'{k}={v}' for k, v in backends.items())}); "
        f"same numbers: {len(set(numbers.values())) == 1}"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
