"""The shared encoder's learning curve as a picture: validation metrics against scenes seen."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: metric key -> legend label
CURVE_METRICS = {
    "part_miou": "part-kind mIoU",
    "cat_acc": "object pixel accuracy",
    "rec_top1": "object naming top-1 (27 names)",
    "novel5": "novel objects 5-way",
    "inst_acc": "instance pixel accuracy",
    "corr_nn": "part correspondence (nearest part)",
}


def plot_curve(rows: Sequence[dict[str, Any]], out: str | Path, title: str = "synthparts-cnn") -> Path:
    """Write a PNG of every metric in :data:`CURVE_METRICS` against scenes seen.

    Args:
        rows: learning-curve rows (``{"scenes": int, "metrics": {...}}``, from ``curve.jsonl``).
        out: the PNG path (folders are created).
        title: the plot title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for key, label in CURVE_METRICS.items():
        pts = [(r["scenes"], r["metrics"][key]) for r in rows if key in r.get("metrics", {})]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, marker=".", label=label)
    # a stage starts where the scene count repeats (its first validation, before any step)
    seen = [r["scenes"] for r in rows]
    for k in range(1, len(seen)):
        if seen[k] == seen[k - 1]:
            ax.axvline(seen[k], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("training scenes seen (fresh renders; dashed: a new stage starts)")
    ax.set_ylabel("validation metric")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(f"{title}: validation on fixed val / novel scenes")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
