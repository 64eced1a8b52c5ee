"""``mereo train coseg``: train Calico-small on SynthParts pairs and write ``calico-small``.

The frozen encoders (``clip-small``, ``dinov2-small``) encode the training and validation scenes
once (cached under the data folder); each step then draws task-balanced pairs and trains only
the small modules. Validation (mIoU and Recall on fixed validation pairs) runs every epoch; the
best epoch's weights are written atomically with a manifest.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from mereo.checkpoints import train_command
from mereo.tools.base import COSEG_TASKS, CosegTask
from mereo.tools.coseg.calico import CHECKPOINT_NAME, predict_batch
from mereo.tools.coseg.features import FrozenEncoders, load_encoders
from mereo.tools.coseg.model import CalicoConfig, CalicoSmall
from mereo.tools.coseg.pairs import default_kb_parts, to_partmasks
from mereo.tools.coseg.training.data import EncodedSplit, PairSampler, encode_split
from mereo.tools.coseg.training.losses import LossWeights, coseg_loss
from mereo.tools.coseg.vocab import Vocabulary, default_vocabulary, kind_of
from mereo.training import EpochLoop, add_common_args, setup, write_checkpoint
from mereo.training.schedule import optimizer_step, warmup_cosine

#: Answer-probability thresholds tried per task on validation (unique parts multiply two
#: probabilities, so theirs is usually far lower than the common tasks').
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mereo train coseg", description=__doc__)
    p.add_argument("--n-train", type=int, default=3000, help="training scenes (pairs are drawn from them)")
    p.add_argument("--n-val", type=int, default=50, help="validation pairs per task")
    p.add_argument("--val-scenes", type=int, default=150, help="validation scenes the pairs are drawn from")
    p.add_argument("--epochs", type=int, default=24)
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--batch", type=int, default=8, help="pairs per step")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--dim", type=int, default=64, help="width of the trainable modules")
    p.add_argument("--num-parts", type=int, default=8, help="part queries per image")
    p.add_argument(
        "--extra-masks",
        type=int,
        default=3,
        help="visible names outside the answer segmented per image (extra mask supervision)",
    )
    p.add_argument(
        "--max-minutes", type=float, default=29.0, help="stop (and keep the best epoch) after this"
    )
    p.add_argument(
        "--tune-only",
        action="store_true",
        help="skip training: re-calibrate the existing checkpoint's per-task answer thresholds",
    )
    p.add_argument(
        "--allow-random-encoders",
        action="store_true",
        help="use randomly initialised encoders when their checkpoints are missing (tests only)",
    )
    add_common_args(p)
    return p.parse_args(argv)


def vocabularies() -> dict[str, Vocabulary]:
    """Training label vocabularies: the knowledge base's names plus every SynthParts name."""
    from mereo.data.synthparts import CATEGORIES, PART_LABELS

    return {
        "object": default_vocabulary("object", tuple(CATEGORIES)),
        "part": default_vocabulary("part", tuple(PART_LABELS)),
    }


@torch.no_grad()
def validate(
    model: CalicoSmall,
    sampler: PairSampler,
    pairs: list[tuple[int, int, CosegTask]],
    vocabs: dict[str, Vocabulary],
    batch: int = 32,
    threshold: float | dict[str, float] = 0.5,
) -> dict[str, float]:
    """mIoU and Recall (exact label match) per task and overall on ``pairs``.

    ``threshold``: the answer-probability threshold, one value or one per task.
    """
    from mereo.metrics import miou, recall, split_by_image

    model.eval()
    size = tuple(sampler.arrays.images.shape[1:3])
    per_task: dict[str, list[Any]] = {t: [] for t in COSEG_TASKS}
    task: CosegTask
    for task in COSEG_TASKS:
        mine = [(i, j) for i, j, t in pairs if t == task]
        for s in range(0, len(mine), batch):
            chunk = mine[s : s + batch]
            b = sampler.make_batch(chunk, [task] * len(chunk))
            preds = predict_batch(
                model,
                b.clip,
                b.dino,
                b.pixels,
                task,
                vocabs[kind_of(task)],
                [[size, size]] * len(chunk),
                threshold=threshold[task] if isinstance(threshold, dict) else threshold,
            )
            for (i, j), pred in zip(chunk, preds, strict=True):
                per_task[task] += split_by_image(pred, to_partmasks(sampler.gold(i, j, task)))
    model.train()
    exact = lambda a, b: float(a == b)  # noqa: E731
    metrics: dict[str, float] = {}
    for name, images in per_task.items():
        metrics[f"{name}/mIoU"] = miou(images)
        metrics[f"{name}/Recall"] = recall(images, similarity=exact)
    every = [x for images in per_task.values() for x in images]
    metrics["mIoU"] = miou(every)
    metrics["Recall"] = recall(every, similarity=exact)
    return metrics


def tune_thresholds(
    model: CalicoSmall,
    sampler: PairSampler,
    pairs: list[tuple[int, int, CosegTask]],
    vocabs: dict[str, Vocabulary],
    known: dict[float, dict[str, float]] | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Per task, the :data:`THRESHOLDS` value with the best validation mIoU + Recall.

    ``known`` holds metrics already computed at some thresholds. Returns the thresholds and the
    validation metrics with them.
    """
    grid = dict(known or {})
    for th in THRESHOLDS:
        if th not in grid:
            grid[th] = validate(model, sampler, pairs, vocabs, threshold=th)
    chosen: dict[str, float] = {
        task: max(THRESHOLDS, key=lambda th: grid[th][f"{task}/mIoU"] + grid[th][f"{task}/Recall"])
        for task in COSEG_TASKS
    }
    return chosen, validate(model, sampler, pairs, vocabs, threshold=chosen)


def label_index(vocabs: dict[str, Vocabulary]) -> dict[str, dict[str, int]]:
    """``kind -> {name: index}`` of the training vocabularies."""
    return {k: {n: i for i, n in enumerate(v.names)} for k, v in vocabs.items()}


def validation_pairs(
    args: argparse.Namespace, encoders: FrozenEncoders, vocabs: dict[str, Vocabulary], mask_side: int
) -> tuple[PairSampler, list[tuple[int, int, CosegTask]]]:
    """The encoded validation split and its fixed pairs (the same for training and ``--tune-only``)."""
    val: EncodedSplit = encode_split("val", args.val_scenes, encoders, seed=args.seed)
    val_s = PairSampler(val, label_index(vocabs), default_kb_parts(), mask_side)
    return val_s, val_s.fixed_pairs(args.n_val, args.seed + 991)


def retune(args: argparse.Namespace) -> int:
    """``--tune-only``: re-calibrate the per-task thresholds of the existing checkpoint."""
    from mereo.checkpoints import update_manifest
    from mereo.tools.coseg.calico import load_model

    model, manifest = load_model(args.out)
    encoders = load_encoders("cpu", expect=manifest.get("encoders"))
    vocabs = vocabularies()
    val_s, val_pairs = validation_pairs(args, encoders, vocabs, model.config.mask_side)
    chosen, metrics = tune_thresholds(model, val_s, val_pairs, vocabs)
    inference = {**manifest.get("inference", {}), "task_thresholds": chosen}
    report = dict(manifest["metrics"])
    report["val_task_thresholds"] = {k: round(v, 4) for k, v in metrics.items()}
    update_manifest(CHECKPOINT_NAME, {"inference": inference, "metrics": report}, args.out)
    print(
        f"task thresholds {chosen}: val mIoU {metrics['mIoU']:.3f} Recall {metrics['Recall']:.3f}", flush=True
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    rng = setup(args)
    if args.tune_only:
        return retune(args)
    t0 = time.time()
    encoders = load_encoders("cpu", allow_random=args.allow_random_encoders)
    train: EncodedSplit = encode_split("train", args.n_train, encoders, seed=args.seed)
    vocabs = vocabularies()
    cgrid, dgrid = encoders.clip.grid[0], encoders.dino.grid[0]
    config = CalicoConfig(
        clip_dim=encoders.clip.dim,
        dino_dim=encoders.dino.dim,
        clip_grid=cgrid,
        grid=max(cgrid, dgrid),
        dim=args.dim,
        num_parts=args.num_parts,
    )
    train_s = PairSampler(train, label_index(vocabs), default_kb_parts(), config.mask_side)
    val_s, val_pairs = validation_pairs(args, encoders, vocabs, config.mask_side)
    vocab_emb = {k: v.embeddings for k, v in vocabs.items()}
    model = CalicoSmall(config)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    total = args.epochs * args.steps_per_epoch
    sched = warmup_cosine(opt, total, min(100, total // 10))
    weights = LossWeights()
    prep_s = time.time() - t0
    print(
        f"data ready in {prep_s:.0f}s: {len(train_s)} train scenes, {len(val_pairs)} val pairs; "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M trainable parameters",
        flush=True,
    )
    command = train_command("coseg", argv)
    loop = EpochLoop(
        args.epochs,
        args.steps_per_epoch,
        desc="coseg",
        deadline=t0 + args.max_minutes * 60,
        name=CHECKPOINT_NAME,
        run_key=command,
    )
    loop.track(model=model, optimizer=opt, scheduler=sched, rng=rng)
    loop.extra["best"] = {"score": -1.0}
    loop.resume(not args.no_resume)
    for epoch in loop.epochs():
        for _ in loop.steps(epoch):
            b = train_s.batch(rng, args.batch, extra=args.extra_masks)
            loss, parts = coseg_loss(model, b, vocab_emb, weights)
            optimizer_step(loss, opt, model.parameters(), sched)
            loop.show(**parts)
        metrics = validate(model, val_s, val_pairs, vocabs)
        score = metrics["mIoU"] + metrics["Recall"]
        if score > loop.extra["best"]["score"]:
            loop.extra["best"] = {
                "score": score,
                "epoch": epoch + 1,
                "metrics": metrics,
                "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            }
        loop.end_epoch(
            {"epoch": epoch + 1, "mIoU": round(metrics["mIoU"], 4), "Recall": round(metrics["Recall"], 4)},
            f"epoch {epoch + 1}: loss {parts['total']:.3f} val mIoU {metrics['mIoU']:.3f} "
            f"Recall {metrics['Recall']:.3f} ({time.time() - t0:.0f}s)",
        )
    best, history = loop.extra["best"], loop.history
    model.load_state_dict(best["state"])
    # the answer-probability thresholds, chosen per task on validation
    task_thresholds, best["metrics"] = tune_thresholds(
        model, val_s, val_pairs, vocabs, {0.5: best["metrics"]}
    )
    print(
        f"answer thresholds {task_thresholds} (val mIoU {best['metrics']['mIoU']:.3f} "
        f"Recall {best['metrics']['Recall']:.3f})",
        flush=True,
    )
    manifest = {
        "architecture": "calico-small",
        "config": config.to_dict(),
        "data": {
            "generator": "synthparts",
            "train_split": "train",
            "n_train_scenes": args.n_train,
            "val_split": "val",
            "n_val_pairs": len(val_pairs),
            "size": 128,
            "pairs": "task-balanced, see mereo.tools.coseg.training.data.PairSampler",
        },
        "encoders": encoders.sources,
        "inference": {"threshold": 0.5, "task_thresholds": task_thresholds},
        "seed": args.seed,
        "command": command,
        "metrics": {
            "val": {k: round(v, 4) for k, v in best["metrics"].items()},
            "best_epoch": best["epoch"],
            "history": history,
            "val_label_match": "exact",
        },
        "training": {
            "epochs_run": len(history),
            "steps_per_epoch": args.steps_per_epoch,
            "batch": args.batch,
            "lr": args.lr,
            "threads": args.threads,
            "data_seconds": round(prep_s, 1),
        },
        "trained_seconds": round(time.time() - t0, 1),
    }
    write_checkpoint(
        CHECKPOINT_NAME,
        best["state"],
        manifest,
        args.out,
        f"best epoch {best['epoch']}: val mIoU {best['metrics']['mIoU']:.3f} "
        f"Recall {best['metrics']['Recall']:.3f}; {manifest['trained_seconds']:.0f}s",
    )
    loop.finish()
    return 0
