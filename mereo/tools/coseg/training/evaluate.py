"""``mereo eval coseg``: Calico's metrics for co-segmentation backends on SynthParts pairs.

Pairs come from a rendered split (default ``test``): for each task, pairs of two different images
whose gold answer is not empty, drawn with a fixed seed (the same pairs for every backend). Each
backend gets the images through its ``cosegment`` API; the images' gold masks are registered in
``ctx.gold`` for the ``oracle``. Metrics (``mereo.metrics``), per task and overall:
AP50 (class-agnostic pycocotools COCOeval), mIoU (greedy), Recall (IoU >= 0.5 and MiniLM label
similarity >= 0.5), SS (MiniLM) and S-IoU, in percent, plus seconds per pair.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mereo.cache import FeatureCache
from mereo.errors import MereoError
from mereo.tools.base import COSEG_TASKS, CosegTask, ToolContext
from mereo.tools.coseg.pairs import default_kb_parts, to_partmasks
from mereo.types import ImageRef, Mask, PartMask

METRICS = ("AP50", "mIoU", "Recall", "SS", "S-IoU")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mereo eval coseg", description=__doc__)
    p.add_argument("--split", default="test", choices=["train", "val", "test", "novel"])
    p.add_argument("--pairs", type=int, default=100, help="pairs per task")
    p.add_argument("--scenes", type=int, default=300, help="scenes rendered to draw the pairs from")
    p.add_argument(
        "--backends",
        default="calico-small,per-image,oracle",
        help="comma-separated coseg backends (see `mereo.tools.coseg.list_backends()`)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    return p.parse_args(argv)


def image_gold(objects: list[Any]) -> list[PartMask]:
    """An image's gold object and part PartMasks (what ``ctx.gold`` holds for the oracle)."""
    out = []
    for o in objects:
        out.append(
            PartMask(
                label=o.category,
                object=o.category,
                image_index=0,
                mask=Mask.from_numpy(o.mask),
                score=1.0,
                source="gold",
                kind="object",
            )
        )
        for label, m in o.parts.items():
            out.append(
                PartMask(
                    label=label,
                    object=o.category,
                    image_index=0,
                    mask=Mask.from_numpy(m),
                    score=1.0,
                    source="gold",
                    kind="part",
                )
            )
    return out


def score(images: list[Any]) -> dict[str, float]:
    """Calico's five metrics (fractions) over per-image ``(pred, gold)`` lists."""
    from mereo.metrics import ap50, miou, recall, semantic_similarity, siou

    return {
        "AP50": ap50(images),
        "mIoU": miou(images),
        "Recall": recall(images),
        "SS": semantic_similarity(images),
        "S-IoU": siou(images),
    }


def evaluate_backend(
    name: str,
    pairs: list[tuple[int, int, CosegTask]],
    index: Any,
    ctx: ToolContext,
    refs: dict[int, ImageRef],
) -> dict[str, Any]:
    """Run backend ``name`` on every pair; metrics per task and overall, and seconds per pair."""
    from mereo.metrics import split_by_image
    from mereo.tools import coseg

    backend = coseg.build(name, ctx)
    per_task: dict[str, list[Any]] = {t: [] for t in COSEG_TASKS}
    t0 = time.perf_counter()
    for i, j, task in tqdm(pairs, desc=f"eval {name}", leave=False):
        pred = backend.cosegment(refs[i], refs[j], task)
        gold = to_partmasks(index.gold(i, j, task))
        per_task[task] += split_by_image(pred, gold)
    seconds = (time.perf_counter() - t0) / max(1, len(pairs))
    result: dict[str, Any] = {t: score(images) for t, images in per_task.items()}
    result["overall"] = score([x for images in per_task.values() for x in images])
    result["seconds_per_pair"] = seconds
    return result


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """Rows ``backend / task`` with the metrics in percent."""
    head = f"{'backend':<14}{'task':<16}" + "".join(f"{m:>8}" for m in METRICS) + f"{'s/pair':>8}"
    lines = [head, "-" * len(head)]
    for name, res in results.items():
        for task in (*COSEG_TASKS, "overall"):
            vals = "".join(
                f"{'n/a' if math.isnan(res[task][m]) else f'{100 * res[task][m]:.1f}':>8}" for m in METRICS
            )
            extra = f"{res['seconds_per_pair']:>8.3f}" if task == "overall" else ""
            lines.append(f"{name:<14}{task:<16}{vals}{extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import torch

    from mereo.data.arrays import load_split
    from mereo.tools.coseg.training.data import PairIndex

    args = parse_args(list(argv or []))
    torch.set_num_threads(args.threads)
    arrays = load_split(args.split, args.scenes, seed=args.seed)
    index = PairIndex(arrays, default_kb_parts())
    pairs = index.fixed_pairs(args.pairs, args.seed + 7)
    used = sorted({k for i, j, _ in pairs for k in (i, j)})
    refs = {k: ImageRef(arrays.images[k]) for k in used}
    ctx = ToolContext(cache=FeatureCache(max_items=4 * len(used) + 16), device=args.device)
    for k in used:
        ctx.gold[refs[k].sha256] = image_gold(index.objects[k])
    print(f"{len(pairs)} pairs ({args.pairs} per task) from {args.scenes} {args.split} scenes", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        try:
            results[name] = evaluate_backend(name, pairs, index, ctx, refs)
        except MereoError as e:
            print(f"skipping {name}: {e}", flush=True)
    print(format_table(results), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {"split": args.split, "pairs_per_task": args.pairs, "seed": args.seed, "results": results},
                indent=2,
            )
            + "\n"
        )
    return 0
