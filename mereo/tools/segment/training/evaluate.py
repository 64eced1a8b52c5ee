"""``mereo eval segment``: Partonomy-style mask metrics of segment backends on SynthParts.

Question types (one item per object of each scene):

- ``identification``: the text is ``describe(object, gold visible parts)``; gold = those parts.
- ``intersection`` / ``difference``: the text lists the visible parts the object shares with
  (has but lacks compared to) another random category's taxonomy; gold = those parts.
- ``description``: a held-out varied description (plurals, distractor words, parts the object
  lacks, negations); gold = the listed parts that are visible. Lacking parts must come back empty.

Per backend and type it prints macro and micro gIoU (PAIRED matching by label, the reference
default; GREEDY / HUNGARIAN / UNION with ``--all-matchings``), cIoU, span-tagging F1 (backends with
a span tagger), and seconds per image and per span; then the same masks grouped by the number of
objects in the scene (``scene: N obj``, all types together). ``--ablation`` trains short variants of
PLUM-small (with / without mask feedback, with / without the bidirectional layer) and prints
the same metrics for each.

Examples::

    mereo eval segment --split test --n 200
    mereo eval segment --split novel --backends plum-small,oracle,whole-object
    mereo eval segment --ablation
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from mereo.types import ImageRef, PartMask

TYPES = ("identification", "intersection", "difference", "description")


@dataclass
class Item:
    """One segment query: an object of a scene, a text and the gold part masks."""

    qtype: str
    scene: int
    object: str
    text: str
    spans: list[tuple[int, int]]
    gold: list[PartMask]
    n_objects: int = 1  # objects in the scene (the object must be told apart from the others)


def scene_gold(scene: Any) -> list[PartMask]:
    """The scene's gold object and part masks as PartMasks (one per part label per object)."""
    from mereo.data.synthparts.questions import scene_masks

    return scene_masks(scene)


def make_items(
    scenes: Sequence[Any], golds: Sequence[list[PartMask]], seed: int, types: Sequence[str] = TYPES
) -> list[Item]:
    """Build the queries of every type for every object with visible parts (seeded)."""
    from mereo.data.synthparts import CATEGORIES, PART_LABELS
    from mereo.tools.segment.text import describe_spans, generate_description

    rng = np.random.default_rng(seed + 7919)
    items: list[Item] = []
    for si, (scene, gold) in enumerate(zip(scenes, golds, strict=True)):
        seen: set[str] = set()
        for obj in scene.objects:
            vis = obj.visible_parts()
            if not vis or obj.category in seen:  # two objects of one category share their labels
                continue
            seen.add(obj.category)
            # gold: the category's part masks (two objects of one category count as one, unioned)
            g = [p for p in gold if p.kind == "part" and p.object == obj.category]

            def add(
                qtype: str,
                text: str,
                spans: list[tuple[int, int]],
                labels: Iterable[str],
                _g: list[PartMask] = g,
                _obj: str = obj.category,
                _si: int = si,
                _n: int = len(scene.objects),
            ) -> None:
                wanted = set(labels)
                items.append(
                    Item(qtype, _si, _obj, text, spans, [p for p in _g if p.label in wanted], n_objects=_n)
                )

            if "identification" in types:
                d = describe_spans(obj.category, vis)
                add("identification", d.text, [(a, b) for a, b, _ in d.spans], vis)
            other = str(rng.choice([c for c in CATEGORIES if c != obj.category]))
            other_parts = set(CATEGORIES[other].parts)
            for qtype, subset in (
                ("intersection", [v for v in vis if v in other_parts]),
                ("difference", [v for v in vis if v not in other_parts]),
            ):
                if qtype in types and subset:
                    d = describe_spans(obj.category, subset)
                    add(qtype, d.text, [(a, b) for a, b, _ in d.spans], subset)
            if "description" in types:
                has = set(CATEGORIES[obj.category].parts)
                pool = [p for p in PART_LABELS if p not in has]
                lacking = [str(x) for x in rng.choice(pool, size=int(rng.integers(0, 3)), replace=False)]
                d = generate_description(obj.category, vis, rng, lacking=lacking)
                add("description", d.text, [(a, b) for a, b, _ in d.spans], vis)
    return items


def evaluate_backend(
    seg: Any,
    items: Sequence[Item],
    images: Sequence[ImageRef],
    progress: bool = True,
    all_matchings: bool = False,
) -> dict[str, dict[str, float]]:
    """Run ``seg`` on every item; metrics per question type (and ``"all"``)."""
    from mereo.metrics import Matching, ciou, giou
    from mereo.tools.segment.spans import span_f1

    per_type: dict[str, list[tuple[list[PartMask], list[PartMask]]]] = defaultdict(list)
    per_count: dict[int, list[tuple[list[PartMask], list[PartMask]]]] = defaultdict(list)
    spans_pred: dict[str, list[list[tuple[int, int]]]] = defaultdict(list)
    spans_gold: dict[str, list[list[tuple[int, int]]]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    n_spans: dict[str, int] = defaultdict(int)
    scene_seconds: dict[int, float] = defaultdict(float)
    tagger = getattr(seg, "tag_spans", None)
    for it in tqdm(items, desc=f"eval {seg.name}", disable=not progress, leave=False):
        t0 = time.perf_counter()
        pred = seg.segment(images[it.scene], text=it.text, object=it.object)
        dt = time.perf_counter() - t0
        seconds[it.qtype] += dt
        scene_seconds[it.scene] += dt
        n_spans[it.qtype] += len(it.spans)
        per_type[it.qtype].append((pred, it.gold))
        per_count[it.n_objects].append((pred, it.gold))
        if tagger is not None:
            spans_pred[it.qtype].append(tagger(it.text)[0])
            spans_gold[it.qtype].append(it.spans)
    out: dict[str, dict[str, float]] = {}
    for qtype in [*[t for t in TYPES if t in per_type], "all"]:
        pairs = [p for t in per_type for p in per_type[t]] if qtype == "all" else per_type[qtype]
        keys = [qtype] if qtype != "all" else list(per_type)
        row: dict[str, float] = {
            "n": len(pairs),
            "giou_macro": giou(pairs, Matching.PAIRED, "macro"),
            "giou_micro": giou(pairs, Matching.PAIRED, "micro"),
            "ciou": ciou(pairs, Matching.PAIRED),
            "s_per_span": sum(seconds[k] for k in keys) / max(1, sum(n_spans[k] for k in keys)),
        }
        if all_matchings:
            for m in (Matching.GREEDY, Matching.HUNGARIAN, Matching.UNION):
                row[f"giou_macro_{m.value}"] = giou(pairs, m, "macro")
        if tagger is not None:
            pp = [s for k in keys for s in spans_pred[k]]
            gg = [s for k in keys for s in spans_gold[k]]
            row["span_f1"] = span_f1(pp, gg)["f1"]
        out[qtype] = row
    for count in sorted(per_count):  # every type, by how many objects the scene holds
        pairs = per_count[count]
        out[f"scene: {count} obj"] = {
            "n": len(pairs),
            "giou_macro": giou(pairs, Matching.PAIRED, "macro"),
            "giou_micro": giou(pairs, Matching.PAIRED, "micro"),
            "ciou": ciou(pairs, Matching.PAIRED),
        }
    per_image = list(scene_seconds.values())
    out["all"]["s_per_image"] = float(np.mean(per_image)) if per_image else float("nan")
    return out


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A plain-text table: one row per (backend, question type)."""
    cols = ["n", "giou_macro", "giou_micro", "ciou", "span_f1", "s_per_span"]
    extra = sorted(
        {k for r in results.values() for row in r.values() for k in row if k.startswith("giou_macro_")}
    )
    cols = cols[:3] + extra + cols[3:]
    head = f"{'backend':<22}{'type':<16}" + "".join(
        f"{c:>22}" if c.startswith("giou_macro_") else f"{c:>12}" for c in cols
    )
    lines = [head, "-" * len(head)]
    for backend, r in results.items():
        for qtype, row in r.items():
            cells = []
            for c in cols:
                w = 22 if c.startswith("giou_macro_") else 12
                v = row.get(c)
                if v is None:
                    cells.append(f"{'-':>{w}}")
                elif c == "n":
                    cells.append(f"{int(v):>{w}}")
                elif c == "s_per_span":
                    cells.append(f"{v * 1000:>{w - 2}.1f}ms")
                else:
                    cells.append(f"{v:>{w}.3f}")
            lines.append(f"{backend:<22}{qtype:<16}" + "".join(cells))
        if "s_per_image" in r.get("all", {}):
            lines.append(f"{'':<22}{'(per image)':<16}{r['all']['s_per_image'] * 1000:>10.1f}ms")
    return "\n".join(lines)


def load_eval_set(
    split: str, n: int, seed: int, size: int = 128
) -> tuple[list[Any], list[ImageRef], list[list[PartMask]]]:
    """Scenes, their ImageRefs and gold masks."""
    from mereo.data.synthparts import generate_scenes

    scenes = list(
        tqdm(generate_scenes(split, n, seed=seed, size=size), total=n, desc=f"render {split}", leave=False)
    )
    return scenes, [ImageRef(s.image) for s in scenes], [scene_gold(s) for s in scenes]


def run_ablation(args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    """Train the four variants briefly on the same data and evaluate each on the same items.

    The variants differ only after the image encoder, so the encoder is dense-pretrained once
    (``--ablation-dense-steps``) and every variant starts from that same encoder.
    """
    import torch

    from mereo.cache import FeatureCache
    from mereo.tools.base import ToolContext
    from mereo.tools.segment.model import PlumConfig, PlumSmall
    from mereo.tools.segment.plum import PlumSegmenter
    from mereo.tools.segment.training.data import cached_set
    from mereo.tools.segment.training.train import encoder_state, pretrain_dense, train_model
    from mereo.tools.segment.training.validate import tune_inference

    train_set = cached_set("train", args.ablation_scenes, seed=args.seed, data_dir=args.data_dir)
    val_set = cached_set("val", 150, seed=args.seed + 1, data_dir=args.data_dir)
    scenes, images, golds = load_eval_set(args.split, args.n, args.seed)
    items = make_items(scenes, golds, args.seed, types=("identification", "description"))
    results: dict[str, dict[str, dict[str, float]]] = {}
    torch.manual_seed(args.seed)
    shared = PlumSmall(PlumConfig())
    pretrain_dense(shared, train_set, args.ablation_dense_steps, np.random.default_rng(args.seed))
    start = encoder_state(shared)
    for feedback in (True, False):
        for bidirectional in (True, False):
            name = f"fb={'on' if feedback else 'off'} bidir={'on' if bidirectional else 'off'}"
            cfg = PlumConfig(feedback=feedback, bidirectional=bidirectional)
            res = train_model(
                cfg, train_set, None, epochs=args.ablation_epochs, seed=args.seed, start_from=start
            )
            torch.manual_seed(args.seed)
            inference = tune_inference(res.model, val_set)  # each variant gets its best threshold
            seg = PlumSegmenter(
                ToolContext(FeatureCache()),
                model=res.model,
                name=f"plum-small[{name}]",
                threshold=inference["threshold"],
                presence_gate=inference["presence_gate"],
                zoom=inference["zoom"],
                flip=inference["flip"],
            )
            results[name] = evaluate_backend(seg, items, images)
            print(f"{name}: trained {res.seconds:.0f} s", flush=True)
            print(format_table({name: results[name]}), flush=True)
    return results


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mereo eval segment", description="Mask metrics of segment backends.")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "novel"])
    p.add_argument("--n", type=int, default=200, help="scenes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backends", default="plum-small,oracle,whole-object")
    p.add_argument("--types", default=",".join(TYPES))
    p.add_argument("--all-matchings", action="store_true", help="also GREEDY / HUNGARIAN / UNION gIoU")
    p.add_argument("--json", default=None, help="write the metrics here")
    p.add_argument("--ablation", action="store_true", help="train and compare the four PLUM-small variants")
    p.add_argument("--ablation-scenes", type=int, default=600)
    p.add_argument("--ablation-epochs", type=int, default=2)
    p.add_argument(
        "--ablation-dense-steps",
        type=int,
        default=1000,
        help="dense encoder pretraining shared by the four variants",
    )
    p.add_argument(
        "--diagnose",
        action="store_true",
        help="synthparts-cnn with the gold object region / gold part masks swapped in (where gIoU is lost)",
    )
    p.add_argument("--data-dir", default="data")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from mereo.cache import FeatureCache
    from mereo.tools.base import ToolContext
    from mereo.tools.segment import build

    args = parse_args(argv or [])
    torch.set_num_threads(args.threads)
    if args.ablation:
        results = run_ablation(args)
    else:
        scenes, images, golds = load_eval_set(args.split, args.n, args.seed)
        ctx = ToolContext(FeatureCache(max_items=max(256, 2 * len(images))))
        ctx.gold.update({img.sha256: g for img, g in zip(images, golds, strict=True)})
        items = make_items(scenes, golds, args.seed, types=[t for t in args.types.split(",") if t])
        results = {}
        if args.diagnose:
            from mereo.tools.encoder.runtime import load_encoder
            from mereo.tools.segment.training.diagnose import VARIANTS, DiagnosticSegmenter

            encoder = load_encoder()
            for variant in VARIANTS:
                seg = DiagnosticSegmenter(ctx, encoder, variant)
                results[variant] = evaluate_backend(seg, items, images)
        else:
            for name in [b for b in args.backends.split(",") if b]:
                seg = build(name, ctx)
                results[name] = evaluate_backend(seg, items, images, all_matchings=args.all_matchings)
    print(
        f"SynthParts {args.split}, {args.n} scenes, seed {args.seed}"
        + (" (ablation)" if args.ablation else "")
    )
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0
