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

from mereo.evals.runner import run_configs, run_eval
from mereo.evals.scoring import summary_table
from mereo.evals.suites import SUITE_NAMES, load_suite, parse_backends


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
    p.add_argument("--preset", default="default", choices=("default", "oracle", "blind"))
    p.add_argument(
        "--backend",
        nargs="*",
        default=[],
        metavar="FAMILY=NAME",
        help="e.g. segment=oracle coseg=per-image lmm=blind",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
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
    p.add_argument("--preset", default="default", choices=("default", "oracle", "blind"))
    p.add_argument("--backend", nargs="*", default=[])
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per process in both runs (default: cores // workers)",
    )
    args = p.parse_args(argv)
    backends = parse_backends(args.backend, args.preset)
    items = load_suite(args.suite, args.split, args.n, 0, args.path)
    from mereo.text import get_encoder

    get_encoder().encode(["warm up"])
    times, items_s, numbers = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="mereo-bench-") as tmp:
        for k in (1, args.workers):
            clock: dict[str, float] = {}
            t0 = time.perf_counter()
            run_dir = Path(tmp) / f"w{k}"
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
            )["run"]
            times[k] = time.perf_counter() - t0
            items_s[k] = (len(items) - 1) / max(1e-9, clock.get("last", t0) - clock.get("first", t0))
            no_time = {g: {m: v for m, v in d.items() if m != "seconds"} for g, d in summary.items()}
            numbers[k] = json.dumps(no_time, sort_keys=True)
            print(
                f"workers={k}: {len(items)} items in {times[k]:.1f} s (start-up included); "
                f"{items_s[k]:.2f} items/s once started",
                flush=True,
            )
    print(
        f"speedup with {args.workers} workers: {times[1] / times[args.workers]:.2f}x wall time, "
        f"{items_s[args.workers] / items_s[1]:.2f}x items/s once started (cores: {os.cpu_count()}, "
        f"backends: {', '.join(f'{k}={v}' for k, v in backends.items())}); "
        f"same numbers: {numbers[1] == numbers[args.workers]}"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
