"""Command lines of the eval runner: ``mereo eval SUITE`` and ``mereo bench eval``.

See :mod:`mereo.evals.runner` for what a run writes and how it resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from mereo.evals.ray_engine import add_engine_args, engine_options
from mereo.evals.runner import run_configs, run_eval
from mereo.evals.scoring import summary_table
from mereo.evals.suites import PRESETS, SUITE_NAMES, load_suite, parse_backends


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
    clock starts; the times include the workers' start-up (imports, building the agent).
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
