"""Backend ablations: ``mereo ablate SUITE --grid segment=plum-small,oracle coseg=calico-small,per-image``.

The grid's configurations (the product of the listed backends, or one family at a time with
``--mode one-at-a-time``) plus the ``oracle`` (upper bound) and ``blind`` (no image) baselines all
run in one pass of the runner: a worker runs every configuration on an item before the next, and
the configurations share one image-feature cache, so an image is encoded once per backend.
Each configuration gets its own resumable run folder under ``--out``; the results go into one
table (``ablation.md`` + ``ablation.csv``: a row per configuration, a column per metric) and one
bar chart per metric (``plots/<metric>.png``, a bar group per task).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mereo.config import DEFAULT_BACKENDS
from mereo.errors import QuestionError
from mereo.evals.ray_engine import add_engine_args, engine_options
from mereo.evals.scoring import METRIC_ORDER, format_value
from mereo.evals.suites import (
    BLIND_BACKENDS,
    ORACLE_BACKENDS,
    PRESETS,
    SUITE_NAMES,
    load_suite,
    parse_backends,
)

#: Metrics shown in the ablation table and plotted (when some configuration has a value).
TABLE_METRICS = METRIC_ORDER


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["segment=plum-small,oracle", "coseg=calico-small"]`` -> ``{"segment": [...], ...}``.

    Raises:
        QuestionError: a malformed spec or an unknown family.
    """
    grid: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        names = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not names:
            raise QuestionError(
                f"--grid takes family=name1,name2 (e.g. segment=plum-small,oracle), got {spec!r}"
            )
        if key not in DEFAULT_BACKENDS:
            raise QuestionError(
                f"unknown backend family {key!r} in --grid; families: {', '.join(DEFAULT_BACKENDS)}"
            )
        grid[key] = list(dict.fromkeys(names))
    return grid


def config_name(backends: dict[str, str], base: dict[str, str] | None = None) -> str:
    """``"default"``, ``"oracle"``, ``"blind"``, or the backends that differ from ``base`` (the
    embedded default unless given), e.g. ``"segment=oracle,coseg=per-image"``."""
    if backends == ORACLE_BACKENDS:
        return "oracle"
    if backends.get("lmm") == "blind":
        return "blind"
    base = base or DEFAULT_BACKENDS
    diff = [f"{k}={v}" for k, v in backends.items() if base.get(k) != v]
    return ",".join(diff) or ("default" if base == DEFAULT_BACKENDS else "base")


def expand(
    grid: dict[str, list[str]],
    mode: str = "product",
    baselines: bool = True,
    base: dict[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """Configurations of a grid: name -> backends, the base first, then the grid, then baselines.

    Args:
        grid: family -> backend names.
        mode: ``"product"`` (every combination) or ``"one-at-a-time"`` (the base backends with
            one family changed).
        baselines: add the ``oracle`` and ``blind`` rows.
        base: the backends the grid changes (the embedded default unless given).
    """
    base = dict(base or DEFAULT_BACKENDS)
    configs: list[dict[str, str]] = [base]
    if mode == "product":
        keys = list(grid)
        for combo in itertools.product(*(grid[k] for k in keys)):
            configs.append({**base, **dict(zip(keys, combo, strict=True))})
    elif mode == "one-at-a-time":
        for k, names in grid.items():
            configs += [{**base, k: n} for n in names]
    else:
        raise QuestionError(f"unknown --mode {mode!r}; use product or one-at-a-time")
    if baselines:
        configs += [dict(ORACLE_BACKENDS), dict(BLIND_BACKENDS)]
    out: dict[str, dict[str, str]] = {}
    for c in configs:
        out.setdefault(config_name(c, base), c)
    return out


def slug(name: str) -> str:
    """A folder name for a configuration name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("=", "-").replace(",", "__"))


def write_table(summaries: dict[str, dict[str, Any]], out_dir: Path, title: str) -> tuple[Path, Path]:
    """``ablation.md`` (overall table + one table per suite) and ``ablation.csv`` (every group).

    Values are percentages (seconds per item for ``seconds``).
    """
    groups = list(dict.fromkeys(g for s in summaries.values() for g in s))
    metrics = [
        m
        for m in TABLE_METRICS
        if any(not math.isnan(s.get("all", {}).get(m, math.nan)) for s in summaries.values())
    ]
    md = [
        f"# {title}",
        "",
        "Values are % (seconds: s per item). `-`: does not apply. failed: items whose "
        "question raised an error (scored as empty answers).",
        "",
    ]
    for group in ["all", *[g for g in groups if g.startswith("suite:")]]:
        cols = [
            m
            for m in metrics
            if any(not math.isnan(s.get(group, {}).get(m, math.nan)) for s in summaries.values())
        ]
        errors = any(s.get(group, {}).get("errors", 0) for s in summaries.values())
        md += [
            f"## {group}",
            "",
            "| configuration | n | " + ("failed | " if errors else "") + " | ".join(cols) + " |",
            "|---|---:|" + ("---:|" if errors else "") + "---:|" * len(cols),
        ]
        for name, s in summaries.items():
            g = s.get(group, {})
            failed = f"{format_value('n', g.get('errors', 0))} | " if errors else ""
            md.append(
                f"| {name} | {format_value('n', g.get('n', 0))} | {failed}"
                + " | ".join(format_value(c, g.get(c, math.nan)) for c in cols)
                + " |"
            )
        md.append("")
    md_path, csv_path = out_dir / "ablation.md", out_dir / "ablation.csv"
    md_path.write_text("\n".join(md))
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["configuration", "group", "n", "failed", *metrics])
        for name, s in summaries.items():
            for group in groups:
                g = s.get(group)
                if g:
                    w.writerow(
                        [
                            name,
                            group,
                            int(g.get("n", 0)),
                            int(g.get("errors", 0)),
                            *("" if math.isnan(g.get(m, math.nan)) else f"{g[m]:.4f}" for m in metrics),
                        ]
                    )
    return md_path, csv_path


def plot_bars(summaries: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """One PNG per metric: a group of bars (one per configuration) per task (question type)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = sorted({g for s in summaries.values() for g in s if g.startswith("type:")})
    groups = ["all", *tasks]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for metric in TABLE_METRICS:
        vals = np.array(
            [[s.get(g, {}).get(metric, math.nan) for g in groups] for s in summaries.values()], dtype=float
        )
        if np.all(np.isnan(vals)):
            continue
        keep = ~np.all(np.isnan(vals), axis=0)
        shown = [g.removeprefix("type:") for g, k in zip(groups, keep, strict=True) if k]
        vals = vals[:, keep]
        scale = 1.0 if metric == "seconds" else 100.0
        fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(shown) + 4), 3.6))
        width = 0.8 / max(1, len(summaries))
        x = np.arange(len(shown))
        for i, name in enumerate(summaries):
            offset = (i - (len(summaries) - 1) / 2) * width
            ax.bar(x + offset, np.nan_to_num(vals[i] * scale), width, label=name)
        ax.set_xticks(x, shown, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("s per item" if metric == "seconds" else f"{metric} (%)")
        ax.set_title(metric)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        path = out_dir / f"{metric}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def run_ablation(
    suite: str,
    grid: dict[str, list[str]],
    *,
    out: str | Path,
    split: str = "test",
    limit: int | None = None,
    workers: int = 1,
    seed: int = 0,
    mode: str = "product",
    baselines: bool = True,
    path: str | None = None,
    images_root: str | None = None,
    base: dict[str, str] | None = None,
    progress: bool = True,
    **engine: Any,
) -> dict[str, dict[str, Any]]:
    """Run the grid on a suite and write the table and plots; returns config name -> summary.

    ``engine``: the Ray engine's keywords of ``run_configs`` (``engine``, ``address``, ``gpus``).
    """
    from mereo.evals.runner import run_configs

    configs = expand(grid, mode, baselines, base)
    items = load_suite(suite, split, limit, seed, path, images_root)
    out_dir = Path(out)
    dirs = {name: out_dir / slug(name) for name in configs}
    settings = {"split": split, "limit": limit, "path": path, "images_root": images_root}
    summaries = run_configs(
        items,
        configs,
        dirs,
        suite,
        workers=workers,
        seed=seed,
        settings=settings,
        progress=progress,
        **engine,
    )
    write_table(summaries, out_dir, f"Ablation: {suite} ({split}, {len(items)} items)")
    plot_bars(summaries, out_dir / "plots")
    return summaries


def main(argv: list[str] | None = None) -> int:
    """``mereo ablate SUITE --grid family=a,b ...``."""
    p = argparse.ArgumentParser(prog="mereo ablate", description=__doc__.split("\n\n")[0])
    p.add_argument("suite", choices=SUITE_NAMES)
    p.add_argument("path", nargs="?", help="dataset file (partonomy-core, mixedparts, items)")
    p.add_argument("--images", dest="images_root", default=None)
    p.add_argument("--grid", nargs="*", default=[], metavar="FAMILY=A,B")
    p.add_argument("--mode", default="product", choices=("product", "one-at-a-time"))
    p.add_argument("--no-baselines", action="store_true", help="leave out the oracle and blind rows")
    p.add_argument("--base", default="default", choices=tuple(PRESETS), help="backends the grid changes")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="FAMILY=NAME",
        dest="base_set",
        help="override backends of the base (e.g. recognize=oracle)",
    )
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder (default runs/ablate-SUITE-SPLIT)")
    p.add_argument("--no-progress", action="store_true")
    add_engine_args(p)
    args = p.parse_args(argv)
    out = Path(args.out or f"runs/ablate-{args.suite}-{args.split}")
    run_ablation(
        args.suite,
        parse_grid(args.grid),
        out=out,
        split=args.split,
        limit=args.limit,
        workers=args.workers,
        seed=args.seed,
        mode=args.mode,
        baselines=not args.no_baselines,
        path=args.path,
        images_root=args.images_root,
        base=parse_backends(args.base_set, args.base),
        progress=not args.no_progress,
        **engine_options(args),
    )
    print((out / "ablation.md").read_text())
    print(f"table: {out / 'ablation.md'}, {out / 'ablation.csv'}; plots: {out / 'plots'}")
    return 0
