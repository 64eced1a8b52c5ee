"""Compare the records of two eval runs question by question, ignoring ids and timings.

Usage:
    python scripts/compare_records.py RUN_A RUN_B

``RUN_A`` / ``RUN_B`` are ``--out`` folders of ``mereo eval`` (or ``.jsonl`` files). Records are
matched by what they ask (suite, question type, question text, image file names), not by ``id``,
which the runner derives from the item's content. Compared: the answer (``prediction``: text,
labels, choice, plan, masks, steps), the gold record and the metrics. Prints each difference and a
total; exits 1 when anything differs or a question is in one run only.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

COMPARED = ("prediction", "gold", "metrics", "error")
IGNORED = {"seconds"}  # wall times, at any depth


def _key(r: dict[str, Any]) -> str:
    images = [Path(p).name for p in r.get("images", [])]
    return json.dumps([r.get("suite"), r.get("question_type"), r.get("question"), images])


def _load(path: Path) -> dict[str, dict[str, Any]]:
    files = [path] if path.is_file() else sorted(path.glob("*.jsonl"))
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        for line in f.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[f"{f.stem} {_key(r)}"] = r  # the latest record of a question wins
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - IGNORED
        return all(k in a and k in b and _same(a[k], b[k]) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def compare(run_a: Path, run_b: Path) -> tuple[int, list[str]]:
    """``(questions compared, differences)``."""
    ra, rb = _load(run_a), _load(run_b)
    diffs = [f"only in {'A' if k in ra else 'B'}: {k}" for k in sorted(set(ra) ^ set(rb))]
    for k in sorted(set(ra) & set(rb)):
        diffs += [
            f"{field} differs: {k}" for field in COMPARED if not _same(ra[k].get(field), rb[k].get(field))
        ]
    return len(set(ra) & set(rb)), diffs


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__)
        return 2
    n, diffs = compare(Path(args[0]), Path(args[1]))
    for line in diffs:
        print(line)
    print(
        f"{n} questions in both runs; {len(diffs)} differences "
        f"(fields {', '.join(COMPARED)}; ids and seconds ignored)"
    )
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
