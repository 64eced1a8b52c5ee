"""Compare two eval runs record by record, ignoring timings.

Usage:
    python scripts/compare_records.py RUN_A RUN_B [--ignore KEY ...]

``RUN_A`` and ``RUN_B`` are ``--out`` folders of ``mereo eval`` (or two ``.jsonl`` files). Records
are matched by ``id``; every field is compared (answers, labels, plans, masks, choices, metrics,
the steps taken) except keys named in ``--ignore`` at any depth (default: ``seconds``, the
wall times). ``summary.json`` is compared the same way when both folders have one. NaN equals NaN.
Prints one line per difference (the first 20 per file) and a total; exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def _diff(a: Any, b: Any, ignore: set[str], path: str, out: list[str]) -> None:
    """Append ``path: a != b`` lines for every difference between two JSON values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in ignore:
                continue
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'B' if k not in a else 'A'}")
            else:
                _diff(a[k], b[k], ignore, f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items != {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, ignore, f"{path}[{i}]", out)
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return
    elif a != b or type(a) is not type(b):
        out.append(f"{path}: {str(a)[:80]!r} != {str(b)[:80]!r}")


def _records(path: Path) -> dict[str, dict[str, Any]]:
    files = [path] if path.is_file() else sorted(path.glob("*.jsonl"))
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        for line in f.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[f"{f.stem}:{r.get('id', r.get('index'))}"] = r
    return out


def compare(run_a: Path, run_b: Path, ignore: set[str]) -> list[str]:
    """All differences between two runs (records, then summaries)."""
    ra, rb = _records(run_a), _records(run_b)
    out = [f"record {k}: only in {'A' if k in ra else 'B'}" for k in sorted(set(ra) ^ set(rb))]
    for k in sorted(set(ra) & set(rb)):
        _diff(ra[k], rb[k], ignore, k, out)
    sa, sb = run_a / "summary.json", run_b / "summary.json"
    if sa.is_file() and sb.is_file():
        _diff(json.loads(sa.read_text()), json.loads(sb.read_text()), ignore, "summary", out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--ignore", action="append", default=None, help="key to skip at any depth (repeatable)")
    args = p.parse_args(argv)
    ignore = set(args.ignore or ["seconds"])
    n = len(_records(args.run_a))
    diffs = compare(args.run_a, args.run_b, ignore)
    for line in diffs[:20]:
        print(line)
    if len(diffs) > 20:
        print(f"... {len(diffs) - 20} more")
    print(f"{n} records in A; {len(diffs)} differences (ignoring {', '.join(sorted(ignore))})")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
