"""The resumable eval runner behind ``mereo eval SUITE``, ``mereo ablate`` and ``mereo bench eval``.

Each finished item becomes one JSONL record under ``--out`` (prediction, gold, metrics, seconds,
backends and versions, seed), appended as it finishes. A record's ``id`` identifies the question,
not its position: it is the item's dataset id plus a hash of the whole item (question, images,
gold answer) and of the split and seed (:func:`item_key`). A restarted run skips the items
already recorded under their key, so a crash loses nothing, and a run resumed with other
settings in the same folder reuses exactly the items it shares with the earlier one (``--limit
16`` then ``--limit 40``: the 40 questions, with none of the other 16 mixed in); settings that
change every answer (suite, split, seed, backends, dataset file) are refused with a
:class:`~mereo.errors.DatasetError`. Summaries are computed from the current items' records in
item order, so the final numbers equal those of an uninterrupted run (every item is seeded the
same way wherever it runs).

With ``workers > 1`` the items are shared with helper processes (:mod:`mereo.evals.pool`).
Several backend configurations can run in one pass (the ablation grid): a worker then runs every
configuration on an item before the next item, sharing one image-feature cache between them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mereo.data.items import QAItem
from mereo.evals.pool import helper_start_method, run_shared
from mereo.evals.records import (
    RecordWriter,
    check_run_file,
    latest_by_id,
    read_records,
    records_path,
    write_summary,
)
from mereo.evals.scoring import gold_record, item_metrics, summarize, summary_table
from mereo.evals.suites import load_suite, parse_backends

#: One task: ``(item index, item as JSON, config names, record id)``.
Task = tuple[int, dict[str, Any], list[str], str]

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


def _run_one(name: str, item: QAItem, index: int, key: str) -> dict[str, Any]:
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
        "id": key,
        "item_id": item.id,
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


def _work(task: Task) -> list[dict[str, Any]]:
    """Run every configuration named by a task on its item (in whichever process claimed it)."""
    index, raw, names, key = task
    item = QAItem.model_validate(raw)
    return [_run_one(name, item, index, key) for name in names]


def item_key(item: QAItem, split: str | None = None, seed: int = 0) -> str:
    """The record id of an item: ``"<item.id>@<12 hex digits>"``.

    The digits are the sha256 of the whole item (question, type, choices, gold answer, image file
    names and sizes; not the folders, so a moved image cache keeps the keys) with ``split`` and
    ``seed``. Two items share a key only when they are the same question about the same images.
    """
    content = item.model_dump(mode="json")
    for im in content["images"]:
        im["path"] = Path(im["path"]).name
    blob = json.dumps({"item": content, "split": split, "seed": seed}, sort_keys=True, default=str)
    return f"{item.id}@{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


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
) -> dict[str, dict[str, Any]]:
    """Run every configuration on every item not yet recorded, then summarise each run.

    Args:
        items: the questions, in a fixed order (record ``index`` = position; ``id`` =
            :func:`item_key`).
        configs: config name -> backends dict.
        out_dirs: config name -> its run folder (``run.json``, ``<suite>.jsonl``, ``summary.json``).
        suite: the suite name (names the JSONL file).
        workers: processes; 1 runs in this process, K runs in this process and K-1 helpers.
        seed: seeds python, numpy and torch before every item.
        threads: torch threads per worker (default: CPU cores / workers).
        settings: extra keys for ``run.json`` (split, limit, path, ...); ``split`` goes into the
            item keys.
        progress: show a tqdm bar.
        timings: filled with ``start``, ``first`` (first item done), ``last`` (last item done) and
            ``end`` (summaries written), from ``time.perf_counter()``.
        start_method: how helpers start, ``"fork"`` (only with one thread) or ``"spawn"``
            (default: see :func:`helper_start_method`).

    Returns:
        config name -> summary (see :func:`mereo.evals.scoring.summarize`).
    """
    from tqdm import tqdm

    threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
    todo: dict[int, list[str]] = {}
    writers: dict[str, RecordWriter] = {}
    meta = {name: {"backends": b, "versions": versions(b)} for name, b in configs.items()}
    keys = [item_key(it, (settings or {}).get("split"), seed) for it in items]
    for name in configs:
        check_run_file(
            out_dirs[name],
            {**(settings or {}), "suite": suite, "seed": seed, "config": name, **meta[name], "items": keys},
        )
        path = records_path(out_dirs[name], suite)
        done = {i for i, r in latest_by_id(read_records(path)).items() if not r.get("error")}
        for index, key in enumerate(keys):
            if key not in done:
                todo.setdefault(index, []).append(name)
        writers[name] = RecordWriter(path)
    tasks: list[Task] = [
        (i, items[i].model_dump(mode="json"), names, keys[i]) for i, names in sorted(todo.items())
    ]
    bar = tqdm(total=len(tasks), desc=f"eval {suite}", unit="item", disable=not progress or not tasks)
    clock = timings if timings is not None else {}
    clock["start"] = time.perf_counter()
    try:
        if workers <= 1:
            _init_worker(configs, seed, threads, meta)
            for recs in map(_work, tasks):
                _write(recs, writers, bar, clock)
        else:
            method = start_method or helper_start_method(threads)
            if method == "fork" and threads != 1:  # see helper_start_method: it would hang
                method = "spawn"
            run_shared(
                tasks,
                workers,
                setup=_init_worker,
                setup_args=(configs, seed, threads, meta),
                work=_work,
                threads=threads,
                method=method,
                emit=lambda recs: _write(recs, writers, bar, clock),
            )
    finally:
        bar.close()
        for w in writers.values():
            w.close()
    summaries = {name: finish(out_dirs[name], suite, keys) for name in configs}
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


def _write(
    recs: list[dict[str, Any]], writers: dict[str, RecordWriter], bar: Any, clock: dict[str, float]
) -> None:
    for r in recs:
        writers[r["config"]].write(r)
    bar.update(1)
    clock.setdefault("first", time.perf_counter())
    clock["last"] = time.perf_counter()


def finish(out_dir: Path, suite: str, ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Summarise the records of a run folder into ``summary.json`` (strict JSON) and ``summary.md``.

    Args:
        ids: the record ids of the current items, in item order: only their records count, as if
            recorded in this order (records of other items in the folder, from an earlier run
            with other settings, are left out). ``None``: every record.

    Returns:
        The summary (see :func:`mereo.evals.scoring.summarize`; NaN where a metric is undefined,
        ``null`` in ``summary.json``).
    """
    recs = latest_by_id(read_records(records_path(out_dir, suite)))
    if ids is None:
        chosen = list(recs.values())
    else:
        chosen = [{**recs[k], "index": n} for n, k in enumerate(ids) if k in recs]
    summary = summarize(chosen)
    write_summary(out_dir, summary)
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
) -> dict[str, Any]:
    """Load a suite and run one backend configuration on it; returns the summary."""
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
    )["run"]
