"""Crash-safe JSONL records of an eval run, and the run's settings file.

A run folder holds ``run.json`` (suite, split, backends, seed, ...) and ``<suite>.jsonl`` with one
record per finished item, appended and flushed as items finish. A process killed mid-write leaves
at most one partial last line; :func:`read_records` ignores it and :func:`repair` cuts it off
before new records are appended, so a restarted run only redoes unfinished items.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mereo.errors import DatasetError

RUN_FILE = "run.json"
SUMMARY_FILE = "summary.json"
#: ``run.json`` keys that must match when a run is resumed in the same folder.
RESUME_KEYS = ("suite", "split", "seed", "backends", "path")


def records_path(out_dir: str | Path, suite: str) -> Path:
    """The JSONL file of ``suite`` directly under ``out_dir``."""
    return Path(out_dir) / f"{suite}.jsonl"


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """All complete records of a JSONL file (a torn last line is skipped); ``[]`` if missing."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def latest_by_id(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Item id -> its last record (a retried item's newest record wins)."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        out[str(r.get("id"))] = r
    return out


def repair(path: str | Path) -> int:
    """Cut a partial last line (no trailing newline) off ``path``; returns the bytes removed."""
    p = Path(path)
    if not p.exists():
        return 0
    data = p.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with p.open("r+b") as f:
        f.truncate(keep)
    return len(data) - keep


class RecordWriter:
    """Appends one JSON line per record and flushes it to the OS at once.

    Args:
        path: the JSONL file (created with its folder).
        fsync: also force it to disk (survives a machine crash, not just a killed process).
    """

    def __init__(self, path: str | Path, fsync: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair(self.path)
        self._f = self.path.open("a", encoding="utf-8")
        self.fsync = fsync

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_run_file(out_dir: str | Path, settings: dict[str, Any]) -> None:
    """Write ``run.json``, or check that a resumed run uses the same settings.

    Raises:
        DatasetError: the folder holds a run with different settings (suite, split, seed, backends).
    """
    p = Path(out_dir) / RUN_FILE
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists():
        try:
            old = json.loads(p.read_text())
        except json.JSONDecodeError:
            old = {}
        diff = [k for k in RESUME_KEYS if k in old and old.get(k) != settings.get(k)]
        if diff:
            detail = ", ".join(f"{k}: {old.get(k)!r} there vs {settings.get(k)!r} now" for k in diff)
            raise DatasetError(
                f"{out_dir} already holds a run with other settings ({detail}); "
                "pass a new --out folder, or delete the old one to start over."
            )
        settings = {**old, **settings}
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, p)


def read_run_file(out_dir: str | Path) -> dict[str, Any]:
    """The settings of the run in ``out_dir`` (``{}`` when it has none)."""
    p = Path(out_dir) / RUN_FILE
    return json.loads(p.read_text()) if p.exists() else {}


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float (at any depth) replaced by ``None``.

    Python's ``json`` writes NaN as the bare token ``NaN``, which is not JSON; an undefined metric
    (no item of that kind) is ``null`` instead.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_summary(out_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``summary.json`` (strict JSON: ``null`` for undefined metrics) into ``out_dir``."""
    p = Path(out_dir) / SUMMARY_FILE
    p.write_text(json.dumps(json_safe(summary), indent=1, sort_keys=True, allow_nan=False) + "\n")
    return p
