"""``mereo report DIR``: turn an eval run into ``report.md``, plots and a gallery of the worst items.

The report reads only the run folder (``run.json``, ``<suite>.jsonl``): the settings, the summary
table (overall, per suite, per question type), bar charts per question type, the distribution of
per-item scores, the failed items, and a gallery of the worst items where each image is shown
twice, gold masks (left) and predicted masks (right), coloured by label; and, when the answers
carry a confidence, the reliability diagram and the expected calibration error (printed too).
Given an ablation folder (run folders one level down), it writes one report per configuration
and an index.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from mereo.agent.answer import PALETTE
from mereo.errors import DatasetError
from mereo.evals.records import RUN_FILE, latest_by_id, read_records, read_run_file, write_summary
from mereo.evals.scoring import summarize, summary_table
from mereo.types import ImageRef, PartMask


def load_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The settings and the latest record per item (in item order) of a run folder.

    Raises:
        DatasetError: the folder has no ``.jsonl`` records.
    """
    files = sorted(run_dir.glob("*.jsonl"))
    if not files:
        raise DatasetError(
            f"{run_dir} holds no .jsonl records; point `mereo report` at an --out folder "
            "of `mereo eval` or `mereo ablate`."
        )
    records = [r for f in files for r in read_records(f)]
    settings = read_run_file(run_dir)
    by_id = latest_by_id(records)
    if isinstance(settings.get("items"), list):  # the last run's items, in its order (see runner)
        latest = [{**by_id[k], "index": n} for n, k in enumerate(settings["items"]) if k in by_id]
    else:
        latest = sorted(by_id.values(), key=lambda r: (r.get("index", 0), str(r.get("id"))))
    return settings, latest


def item_score(record: dict[str, Any]) -> float:
    """How well an item went, for picking the worst: mean of its answer F1 and mask gIoU."""
    m = record.get("metrics", {})
    vals = [m[k] for k in ("answer_f1", "giou") if k in m and not math.isnan(m[k])]
    return float(np.mean(vals)) if vals else 0.0


def overlay(
    image: np.ndarray,
    parts: list[PartMask],
    colours: dict[str, tuple[int, int, int]],
    title: str,
    alpha: float = 0.55,
) -> Image.Image:
    """The ``H x W x 3`` image with each mask blended in its label's colour, a title and a legend.

    Small images are upscaled (nearest) to at least 192 pixels high.
    """
    base = image.astype(np.float32).copy()
    for p in parts:
        m = p.mask.to_numpy()
        if m.shape == base.shape[:2]:
            base[m] = (1 - alpha) * base[m] + alpha * np.array(colours.get(p.label, (255, 255, 255)))
    im = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    scale = max(1, math.ceil(192 / im.height))
    im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    labels = list(dict.fromkeys(p.label for p in parts))
    canvas = Image.new("RGB", (max(im.width, 200), im.height + 16 * (len(labels) + 1) + 4), (255, 255, 255))
    canvas.paste(im, (0, 16))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 2), title, fill=(0, 0, 0))
    for k, label in enumerate(labels or ["(no masks)"]):
        y = im.height + 18 + 16 * k
        draw.rectangle([2, y + 2, 12, y + 12], fill=colours.get(label, (200, 200, 200)), outline=(0, 0, 0))
        draw.text((16, y), label, fill=(0, 0, 0))
    return canvas


def gallery_image(record: dict[str, Any]) -> Image.Image | None:
    """Gold | predicted overlays of every image of an item, one row per image (None: no image file)."""
    gold = [PartMask.model_validate(p) for p in record["gold"].get("parts", [])]
    pred = [PartMask.model_validate(p) for p in record["prediction"].get("parts", [])]
    labels = sorted({p.label for p in gold + pred})
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    rows = []
    for k, path in enumerate(record.get("images", [])):
        if not Path(path).exists():
            return None
        arr = ImageRef(path).array
        g = overlay(arr, [p for p in gold if p.image_index == k], colours, f"image {k + 1}: gold")
        q = overlay(arr, [p for p in pred if p.image_index == k], colours, f"image {k + 1}: predicted")
        row = Image.new("RGB", (g.width + q.width + 8, max(g.height, q.height)), (255, 255, 255))
        row.paste(g, (0, 0))
        row.paste(q, (g.width + 8, 0))
        rows.append(row)
    if not rows:
        return None
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 6 for r in rows)), (255, 255, 255))
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height + 6
    return out


def _plots(summary: dict[str, dict[str, float]], records: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    types = [g for g in summary if g.startswith("type:")]
    written = []
    metrics = [
        m
        for m in ("answer_f1", "exact_set", "giou")
        if any(not math.isnan(summary[g].get(m, math.nan)) for g in types)
    ]
    if types and metrics:
        fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(types) + 2), 3.6))
        x = np.arange(len(types))
        width = 0.8 / len(metrics)
        for i, m in enumerate(metrics):
            vals = [100 * np.nan_to_num(summary[g].get(m, math.nan)) for g in types]
            ax.bar(x + (i - (len(metrics) - 1) / 2) * width, vals, width, label=m)
        ax.set_xticks(x, [t.removeprefix("type:") for t in types], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7)
        ax.set_title("per question type")
        fig.tight_layout()
        written.append(out / "per_type.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3))
    a1.hist([100 * item_score(r) for r in records], bins=20, range=(0, 100), color="tab:blue")
    a1.set_xlabel("item score (%): mean of answer F1 and gIoU")
    a1.set_ylabel("items")
    a2.hist([float(r.get("seconds", 0.0)) for r in records], bins=20, color="tab:orange")
    a2.set_xlabel("seconds per item")
    fig.tight_layout()
    written.append(out / "distributions.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)
    return written


def calibration_pairs(records: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """``(confidence, correct)`` of the records whose prediction has a confidence."""
    conf, ok = [], []
    for r in records:
        c = r.get("prediction", {}).get("confidence")
        if c is None:
            continue
        m = r.get("metrics", {})
        conf.append(float(c))
        ok.append(float(m.get("correct", m.get("exact_set", 0.0))))
    return conf, ok


def reliability_plot(records: list[dict[str, Any]], out: Path, bins: int = 10) -> tuple[Path | None, float]:
    """The reliability diagram of the answers' confidences (``out``) and their ECE (NaN: none)."""
    from mereo.metrics.answers import expected_calibration_error, reliability_bins

    conf, ok = calibration_pairs(records)
    if not conf:
        return None, math.nan
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ece = expected_calibration_error(conf, ok, bins)
    rows = reliability_bins(conf, ok, bins)
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    centres = [(r.lo + r.hi) / 2 for r in rows]
    ax.bar(
        centres,
        [0 if r.n == 0 else r.accuracy for r in rows],
        width=1 / bins,
        edgecolor="black",
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    for r, x in zip(rows, centres, strict=True):
        if r.n:
            ax.text(x, 0.02, str(r.n), ha="center", fontsize=6)
    ax.set_xlabel("confidence")
    ax.set_ylabel("fraction correct")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"reliability (ECE {100 * ece:.1f}%, {len(conf)} answers)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out, ece


def write_report(run_dir: str | Path, worst: int = 12, label_metrics: bool = True) -> Path:
    """Write ``report.md``, ``plots/`` and ``gallery/`` into a run folder; returns report.md's path."""
    run_dir = Path(run_dir)
    settings, records = load_run(run_dir)
    summary = summarize(records, label_metrics=label_metrics)
    plots = _plots(summary, records, run_dir / "plots")
    diagram, ece = reliability_plot(records, run_dir / "plots" / "reliability.png")
    plots += [diagram] if diagram is not None else []
    lines = [f"# Eval report: {settings.get('suite', run_dir.name)}", ""]
    for key in ("suite", "split", "limit", "path", "seed", "config"):
        if settings.get(key) is not None:
            lines.append(f"- {key}: `{settings[key]}`")
    if settings.get("backends"):
        lines.append("- backends: " + ", ".join(f"`{k}={v}`" for k, v in settings["backends"].items()))
    if settings.get("versions"):
        lines.append("- versions: " + ", ".join(f"`{k} {v}`" for k, v in settings["versions"].items()))
    lines += [
        f"- items: {len(records)}",
        "",
        "## Metrics (%, seconds per item)",
        "",
        summary_table(summary),
        "",
    ]
    if not math.isnan(ece):
        lines += [f"Expected calibration error of the answers' confidence: {100 * ece:.1f}%", ""]
    lines += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    failed = [r for r in records if r.get("error")]
    if failed:
        lines += [f"## Failed items ({len(failed)})", ""]
        lines += [f"- `{r['id']}`: {r['error']}" for r in failed[:50]] + [""]
    lines += [f"## The {min(worst, len(records))} worst items (gold left, predicted right)", ""]
    gallery = run_dir / "gallery"
    gallery.mkdir(exist_ok=True)
    for r in sorted(records, key=lambda r: (item_score(r), r.get("index", 0)))[:worst]:
        m = r.get("metrics", {})
        lines += [
            f"### `{r['id']}` ({r.get('question_type')}), score {100 * item_score(r):.1f}%",
            "",
            f"- question: {r.get('question')}",
            f"- gold: {', '.join(r['gold'].get('labels', [])) or '(none)'}",
            f"- predicted: {', '.join(r['prediction'].get('labels', [])) or '(none)'}",
            f"- answer: {r['prediction'].get('text', '')}",
            "- metrics: " + ", ".join(f"{k} {100 * v:.1f}" for k, v in m.items() if not math.isnan(v)),
        ]
        if r.get("error"):
            lines.append(f"- error: {r['error']}")
        pic = gallery_image(r)
        if pic is not None:
            name = f"{r.get('index', 0):05d}.png"
            pic.save(gallery / name)
            lines.append(f"\n![{r['id']}](gallery/{name})")
        else:
            lines.append("- (image files not found; re-run the eval to regenerate them)")
        lines.append("")
    write_summary(run_dir, summary)
    path = run_dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def _print_ece(run_dir: Path) -> None:
    from mereo.metrics.answers import expected_calibration_error

    conf, ok = calibration_pairs(load_run(run_dir)[1])
    if conf:
        ece = expected_calibration_error(conf, ok)
        print(f"{run_dir}: expected calibration error {100 * ece:.1f}% over {len(conf)} answers")


def main(argv: list[str] | None = None) -> int:
    """``mereo report DIR [--worst K]``."""
    p = argparse.ArgumentParser(prog="mereo report", description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="an --out folder of `mereo eval` (or of `mereo ablate`)")
    p.add_argument("--worst", type=int, default=12, help="items in the gallery")
    args = p.parse_args(argv)
    root = Path(args.dir)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; pass the --out folder of an eval run.")
    if list(root.glob("*.jsonl")):
        print(f"wrote {write_report(root, args.worst)}")
        _print_ece(root)
        return 0
    runs = sorted(d for d in root.iterdir() if (d / RUN_FILE).exists() and list(d.glob("*.jsonl")))
    if not runs:
        raise DatasetError(f"{root} holds no eval records (.jsonl) nor run folders with them.")
    index = ["# Reports", ""]
    for d in runs:
        path = write_report(d, args.worst)
        index.append(f"- [{d.name}]({d.name}/report.md)")
        print(f"wrote {path}")
        _print_ece(d)
    (root / "reports.md").write_text("\n".join(index) + "\n")
    return 0
