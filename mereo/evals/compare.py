"""Are two eval runs' records the same? Records are matched by item id; wall times and cache hits
are ignored (:data:`VOLATILE_KEYS`). Used to check that the Ray engine, a resumed run or another
worker count writes what the local engine writes: ``python -m mereo.evals.compare RUN_A RUN_B``.

(``scripts/compare_records.py`` matches by question content instead, for runs made before item ids
became content hashes.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

#: record fields that differ between identical runs (at any depth)
VOLATILE_KEYS = frozenset({"seconds", "cache_hit"})


def strip_volatile(value: Any) -> Any:
    """A record without its :data:`VOLATILE_KEYS` fields (at any depth)."""
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


def compare_runs(run_a: str | Path, run_b: str | Path, suite: str) -> list[str]:
    """Differences between two run folders' records, by item id (:data:`VOLATILE_KEYS` ignored).

    Returns:
        One line per difference; ``[]`` when the records are identical.
    """
    from mereo.evals.records import latest_by_id, read_records, records_path

    a = latest_by_id(read_records(records_path(run_a, suite)))
    b = latest_by_id(read_records(records_path(run_b, suite)))
    out = [f"only in {run_a}: {i}" for i in sorted(set(a) - set(b))]
    out += [f"only in {run_b}: {i}" for i in sorted(set(b) - set(a))]
    for i in sorted(set(a) & set(b)):
        ra, rb = strip_volatile(a[i]), strip_volatile(b[i])
        if ra != rb:
            keys = sorted(k for k in set(ra) | set(rb) if ra.get(k) != rb.get(k))
            out.append(f"item {i}: records differ in {', '.join(keys)}")
    return out


def compare_main(argv: list[str] | None = None) -> int:
    """``python -m mereo.evals.compare RUN_A RUN_B [--suite agent]``: are two runs' records equal?"""
    p = argparse.ArgumentParser(prog="python -m mereo.evals.compare", description=compare_main.__doc__)
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--suite", default="agent")
    args = p.parse_args(argv)
    from mereo.evals.records import read_records, records_path

    diffs = compare_runs(args.run_a, args.run_b, args.suite)
    n = len(read_records(records_path(args.run_a, args.suite)))
    if diffs:
        print("\n".join(diffs[:20]))
        print(f"{len(diffs)} difference(s) between {args.run_a} and {args.run_b}")
        return 1
    print(
        f"identical: {n} records of {args.suite} in {args.run_a} and {args.run_b} "
        "(wall times and cache hits ignored)"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(compare_main())
