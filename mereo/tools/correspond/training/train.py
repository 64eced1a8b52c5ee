"""`mereo train correspond`: train the small DINOv2 encoder with a supervised dense contrastive loss.

Objective (why not DINO self-distillation): with a few minutes of two shared CPU cores a
teacher-student run does not get far, while SynthParts gives exact part masks for free. Every
8 x 8 patch gets the part label covering most of it (or "background"; mixed patches are
ignored), so patches of the same part kind are positives across objects and images (a chair's
leg and a table's leg) and different kinds are negatives. Two contrastive forms are available:

- ``proxy`` (default): each patch is contrasted with one learnt proxy per part kind (cosine
  logits at a temperature, cross-entropy; Proxy-NCA / normalised softmax). Every patch gets a
  positive and all other kinds as negatives in every step, without needing a same-kind partner in
  the batch, so it learns fastest per CPU second. It needs the whole default budget: val part
  matching 24 % after 1 epoch (125 steps), 38 % after 4, 47 % after 8 (862 s on one thread).
- ``supcon``: supervised contrastive loss between sampled patches (Khosla et al. 2020). In our
  first committed-budget run (125 steps) it stayed at chance (val part matching 24.9 % vs 23.4 %
  for random weights), so it is kept only as an option.

Half of each batch is flipped and colour-jittered, so matches must survive a change of pose and
colour. The tool uses the encoder's final patch tokens directly (the proxies are dropped), i.e.
the space the loss shapes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from mereo.checkpoints import train_command
from mereo.data.arrays import NO_OBJECT, NO_PART, SceneArrays, load_split
from mereo.tools.correspond.encoder import CHECKPOINT_NAME, SMALL_CONFIG, DenseEncoder, build_model, to_pixels
from mereo.tools.correspond.training.evaluate import (
    encoder_features,
    evaluate_pairs,
    sample_pairs,
    threshold_entry,
)
from mereo.training import EpochLoop, add_common_args, setup, write_checkpoint
from mereo.training.schedule import optimizer_step

IGNORE = -1
OBJECTIVES = {
    "proxy": "proxy: supervised dense contrastive loss (Proxy-NCA); each 8x8 patch is labelled with the "
    "SynthParts part kind covering most of it (or background) and pulled to a learnt proxy of its "
    "kind, away from the other kinds' proxies, so patches of the same part kind match across "
    "objects and images (see mereo/tools/correspond/training/train.py)",
    "supcon": "supcon: supervised contrastive loss between sampled part-labelled patches "
    "(see mereo/tools/correspond/training/train.py)",
}


def token_labels(data: SceneArrays, patch: int, min_cover: float = 0.5) -> np.ndarray:
    """Per-patch class: part index, ``len(part_labels)`` for background, or ``IGNORE``.

    Returns:
        ``N x (H / patch) x (W / patch)`` int64.
    """
    n_parts = len(data.part_labels)
    out = []
    for s in range(0, len(data), 256):
        pm = torch.as_tensor(data.partmap[s : s + 256].astype(np.int64))
        om = torch.as_tensor(data.objmap[s : s + 256].astype(np.int64))
        cls = torch.where(pm != NO_PART, pm, torch.full_like(pm, n_parts + 1))
        cls = torch.where(om == NO_OBJECT, torch.full_like(cls, n_parts), cls)  # background
        onehot = F.one_hot(cls, n_parts + 2).permute(0, 3, 1, 2).float()
        frac = F.avg_pool2d(onehot, patch)
        cover, lab = frac.max(dim=1)
        lab[(cover < min_cover) | (lab == n_parts + 1)] = IGNORE  # mixed, or object without visible part
        out.append(lab)
    return torch.cat(out).numpy()


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss of ``M x D`` features with ``M`` integer labels."""
    z = F.normalize(z, dim=-1)
    logits = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool)
    logits = logits.masked_fill(eye, -1e9)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = pos.sum(1)
    keep = n_pos > 0
    loss = -(log_prob * pos).sum(1)[keep] / n_pos[keep]
    return loss.mean()


def proxy_loss(
    z: torch.Tensor, labels: torch.Tensor, proxies: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cross-entropy of ``M x D`` features against ``C x D`` class proxies with cosine logits."""
    logits = F.normalize(z, dim=-1) @ F.normalize(proxies, dim=-1).T / temperature
    return F.cross_entropy(logits, labels)


def augment(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip and a per-image brightness/contrast/channel-gain jitter."""
    imgs = images[:, :, ::-1].astype(np.float32)
    labs = labels[:, :, ::-1]
    b = len(imgs)
    gain = rng.uniform(0.8, 1.2, size=(b, 1, 1, 3))
    contrast = rng.uniform(0.7, 1.3, size=(b, 1, 1, 1))
    mean = imgs.mean(axis=(1, 2, 3), keepdims=True)
    imgs = (imgs - mean) * contrast + mean * rng.uniform(0.8, 1.2, size=(b, 1, 1, 1))
    imgs = np.clip(imgs * gain, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(imgs), np.ascontiguousarray(labs)


def sample_tokens(
    labels: torch.Tensor, n: int, bg_label: int, bg_frac: float, gen: torch.Generator
) -> torch.Tensor:
    """Indices of up to ``n`` labelled tokens, at most ``bg_frac`` of them background."""
    valid = torch.nonzero(labels != IGNORE).flatten()
    is_bg = labels[valid] == bg_label
    fg, bg = valid[~is_bg], valid[is_bg]
    n_bg = min(len(bg), int(n * bg_frac))
    n_fg = min(len(fg), n - n_bg)
    pick_fg = fg[torch.randperm(len(fg), generator=gen)[:n_fg]]
    pick_bg = bg[torch.randperm(len(bg), generator=gen)[:n_bg]]
    return torch.cat([pick_fg, pick_bg])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mereo train correspond", description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=3000, help="training scenes")
    parser.add_argument("--n-val", type=int, default=150, help="validation scenes")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--tokens", type=int, default=4096, help="tokens per step in the contrastive loss")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--objective", choices=("proxy", "supcon"), default="proxy")
    parser.add_argument("--hidden", type=int, default=SMALL_CONFIG["hidden_size"], help="encoder width")
    parser.add_argument("--layers", type=int, default=SMALL_CONFIG["num_hidden_layers"], help="encoder depth")
    parser.add_argument("--val-pairs", type=int, default=200, help="object pairs for validation")
    add_common_args(parser)
    args = parser.parse_args(argv)

    rng = setup(args)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    train = load_split("train", args.n_train, seed=args.seed)
    val = load_split("val", args.n_val, seed=args.seed)
    print(f"data: {len(train)} train / {len(val)} val scenes ({time.perf_counter() - t0:.0f} s)", flush=True)

    cfg = dict(SMALL_CONFIG, hidden_size=args.hidden, num_hidden_layers=args.layers)
    patch, size = cfg["patch_size"], cfg["image_size"]
    labels = token_labels(train, patch)
    bg_label = len(train.part_labels)
    model = build_model(cfg)
    encoder = DenseEncoder(model, device="cpu")
    proxies = torch.nn.Parameter(torch.randn(bg_label + 1, cfg["hidden_size"]) * 0.1)
    params = list(model.parameters()) + [proxies]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.05)
    steps_per_epoch = len(train) // args.batch
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.1)
    val_pairs = sample_pairs(val, args.val_pairs, seed=args.seed)
    command = train_command("correspond", argv)
    loop = EpochLoop(
        args.epochs,
        steps_per_epoch,
        desc="correspond",
        name=CHECKPOINT_NAME,
        run_key=command,
    )
    loop.track(model=model, proxies=proxies, optimizer=opt, scheduler=sched, rng=rng, gen=gen)
    loop.resume(not args.no_resume)
    t_train = time.perf_counter()
    for epoch in loop.epochs():
        model.train()
        order = rng.permutation(len(train))
        for step in loop.steps(epoch):
            idx = np.sort(order[step * args.batch : (step + 1) * args.batch])
            ims, labs = train.images[idx], labels[idx]
            half = len(idx) // 2
            ims2, labs2 = augment(ims[half:], labs[half:], rng)
            pixels = torch.cat([to_pixels(ims[:half], size), to_pixels(ims2, size)])
            lab = torch.as_tensor(np.concatenate([labs[:half], labs2]).reshape(-1))
            pick = sample_tokens(lab, args.tokens, bg_label, 0.15, gen)
            tokens = encoder.forward_pixels(pixels).reshape(-1, encoder.dim)
            if args.objective == "proxy":
                loss = proxy_loss(tokens[pick], lab[pick], proxies, args.temperature)
            else:
                loss = supcon_loss(tokens[pick], lab[pick], args.temperature)
            optimizer_step(loss, opt, params, sched)
            loop.show(loss=loss.item())
        model.eval()
        metrics = evaluate_pairs(encoder_features(encoder), val, val_pairs, desc="val")
        loop.extra["same_label_similarity"] = metrics.pop("same_label_similarity")
        loop.end_epoch(
            {"epoch": epoch + 1, **{k: round(v, 4) for k, v in metrics.items()}},
            f"epoch {epoch + 1}: loss {loss.item():.3f}  "
            f"val part_match_acc {metrics['part_match_acc']:.3f}  pck@0.1 {metrics['pck@0.1']:.3f}",
        )
    trained = time.perf_counter() - t_train
    history = loop.history
    manifest = {
        "architecture": "transformers.Dinov2Model",
        "config": cfg,
        "data": {"dataset": "SynthParts", "split": "train", "n": len(train), "seed": args.seed, "size": size},
        "seed": args.seed,
        "command": command,
        "objective": OBJECTIVES[args.objective],
        "hyperparameters": {k: v for k, v in vars(args).items() if k not in ("out", "no_resume")},
        "metrics": {"val": history[-1], "history": history},
        "trained_seconds": round(trained, 1),
        # the agent's similarity threshold, from the last validation (see mereo eval correspond --calibrate)
        "match_threshold": threshold_entry(
            loop.extra["same_label_similarity"],
            split="val",
            pairs=len(val_pairs),
            command="mereo train correspond (last validation)",
        ),
    }
    write_checkpoint(
        CHECKPOINT_NAME,
        model.state_dict(),
        manifest,
        args.out,
        f"{trained:.0f} s of training; val {history[-1]}",
    )
    loop.finish()
    return 0
