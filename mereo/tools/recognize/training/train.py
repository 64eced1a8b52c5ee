"""`mereo train recognize`: train clip-small on SynthParts object and part crops (text tower locked).

Captions are "a chair" / "a chair with back, leg, seat" for object crops and "the leg of a chair"
for part crops; a class is an object category, or a part of a category.

Why the text tower is locked (LiT-style): trained jointly from random weights, the text tower
collapsed every caption onto one embedding within ~20 steps (mean caption cosine 0.78 -> 0.999):
while the image embeddings carry no class information, sitting at the mean image embedding is
the cheapest way for the text side to lower the loss, and after that the image tower gets no
signal (crop loss exactly log(batch); the checkpoint trained that way was at chance). So
training has two stages:

1. text warm-up: the text tower alone learns to map two captions of the same class close
   together and captions of different classes apart (multi-positive InfoNCE, text vs text);
   a few seconds, and the classes get distinct, template-independent embeddings;
2. the text tower is then frozen and the image tower learns to meet it, with
   - the multi-positive symmetric CLIP loss of crops vs their captions,
   - a 27-way classification of object crops against the prompt-ensembled class embeddings
     (exactly how ``mereo eval recognize`` classifies),
   - a token loss: every patch token of the crops and of whole scenes is classified against the
     class embeddings plus "background" (token targets from the object masks). The small ViT
     from scratch hardly learns these randomly textured shapes from pooled losses alone: a
     supervised linear probe on its pooled embedding was still at chance after 460 steps (a
     4-layer CNN reached 40 % in 150 s); with per-token targets the same probe reached 29 %
     after 690 steps. They are also what ``detect.py`` needs.

Crops are 64 px with 8 px patches (the same 8 x 8 token grid as 128 px / 16 px, 4x less pixel
work), with box jitter and flips. Validation every epoch: top-1 of val object crops.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mereo.checkpoints import train_command
from mereo.data.arrays import NO_OBJECT, SceneArrays, load_split
from mereo.tools.recognize.crops import (
    CropItem,
    crop_batch,
    jitter_box,
    object_coverage,
    object_items,
    part_items,
)
from mereo.tools.recognize.model import CHECKPOINT_NAME, ClipModel, build_clip, make_tokenizer, small_config
from mereo.tools.recognize.prompts import OBJECT_TEMPLATES, description, part_prompt
from mereo.tools.recognize.training.evaluate import crop_accuracy
from mereo.tools.recognize.zeroshot import background_embedding, class_embeddings
from mereo.training import EpochLoop, add_common_args, setup, write_checkpoint
from mereo.training.schedule import optimizer_step

IGNORE = -100


def patch_targets(data: SceneArrays, patch: int, names: list[str], min_cover: float = 0.5) -> np.ndarray:
    """Per-patch target: index into ``names``, ``len(names)`` for background, or ``IGNORE``.

    Returns:
        ``N x (H / patch) x (W / patch)`` int64.
    """
    n_cat = len(names)
    lookup = torch.tensor([names.index(c) if c in names else n_cat for c in data.category_names])
    out = []
    for s in range(0, len(data), 256):
        om = torch.as_tensor(data.objmap[s : s + 256].astype(np.int64))
        cats = torch.as_tensor(data.categories[s : s + 256].astype(np.int64))
        cls = torch.full_like(om, n_cat)
        for k in range(cats.shape[1]):
            cls = torch.where(om == k, lookup[cats[:, k].clamp(min=0)].view(-1, 1, 1), cls)
        cls = torch.where(om == NO_OBJECT, torch.full_like(cls, n_cat), cls)
        frac = F.avg_pool2d(F.one_hot(cls, n_cat + 1).permute(0, 3, 1, 2).float(), patch)
        cover, lab = frac.max(dim=1)
        lab[cover < min_cover] = IGNORE
        out.append(lab)
    return torch.cat(out).numpy()


def crop_token_targets(cover: torch.Tensor, labels: torch.Tensor, background: int) -> torch.Tensor:
    """Per-token targets of crops from their object coverage (``B x g x g``): the crop's label
    where the object covers at least half the cell, ``background`` where it covers under 10 %."""
    target = torch.where(cover >= 0.5, labels.view(-1, 1, 1), torch.full_like(cover, background).long())
    target[(cover < 0.5) & (cover >= 0.1)] = IGNORE
    return target


def multi_positive_clip_loss(
    img: torch.Tensor, txt: torch.Tensor, keys: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE where every image/text pair with equal ``keys`` is a positive."""
    logits = scale * img @ txt.T
    pos = (keys[:, None] == keys[None, :]).float()
    target = pos / pos.sum(1, keepdim=True)
    loss_i = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    target_t = pos.T / pos.T.sum(1, keepdim=True)
    loss_t = -(target_t * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return (loss_i + loss_t) / 2


def captions(
    data: SceneArrays, items: list[CropItem], rng: np.random.Generator
) -> tuple[list[str], torch.Tensor]:
    """A random caption per crop and its class key (category, or part of a category)."""
    texts, keys = [], []
    for it in items:
        name = data.category_names[it.category]
        if it.part >= 0:
            texts.append(part_prompt(data.part_labels[it.part], name, int(rng.integers(3))))
            keys.append(1000 + it.part * 100 + it.category)
            continue
        if it.parts and rng.random() < 0.3:
            k = int(rng.integers(1, min(3, len(it.parts)) + 1))
            texts.append(description(name, list(rng.choice(it.parts, size=k, replace=False))))
        else:
            texts.append(OBJECT_TEMPLATES[int(rng.integers(len(OBJECT_TEMPLATES)))].format(name))
        keys.append(it.category)
    return texts, torch.tensor(keys)


def text_warmup(
    clip: ClipModel,
    data: SceneArrays,
    objs: list[CropItem],
    parts: list[CropItem],
    steps: int,
    batch: int,
    lr: float,
    rng: np.random.Generator,
) -> float:
    """Train the text tower alone: two captions of a class together, different classes apart.
    Returns the last loss."""
    params = [
        p for n, p in clip.model.named_parameters() if not n.startswith("visual.") and n != "logit_scale"
    ]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    loss = torch.tensor(0.0)
    for _ in tqdm(range(steps), desc="text warm-up"):
        items = [objs[j] for j in rng.choice(len(objs), batch, replace=False)] + [
            parts[j] for j in rng.choice(len(parts), batch // 2, replace=False)
        ]
        (a, keys), (b, _) = captions(data, items, rng), captions(data, items, rng)
        loss = multi_positive_clip_loss(
            clip.text_embeddings(a), clip.text_embeddings(b), keys, torch.tensor(10.0)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return loss.item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mereo train recognize", description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=3000, help="training scenes")
    parser.add_argument("--n-val", type=int, default=150, help="validation scenes")
    parser.add_argument("--epochs", type=int, default=19)
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        default=1000,
        help="at most this many steps per epoch (an epoch is one pass over the objects)",
    )
    parser.add_argument("--objects", type=int, default=48, help="object crops per step")
    parser.add_argument("--parts", type=int, default=16, help="part crops per step")
    parser.add_argument("--scenes", type=int, default=8, help="whole scenes per step (token loss)")
    parser.add_argument("--class-weight", type=float, default=1.0, help="27-way object classification loss")
    parser.add_argument("--token-weight", type=float, default=1.0, help="per-token classification loss")
    parser.add_argument(
        "--background-weight",
        type=float,
        default=0.2,
        help="class weight of background tokens in the token loss",
    )
    parser.add_argument("--jitter", type=float, default=0.1, help="box jitter (fraction of the side)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--text-warmup", type=int, default=300, help="text-only steps before the text tower is locked"
    )
    add_common_args(parser)
    args = parser.parse_args(argv)

    from mereo.data.synthparts import TRAIN_CATEGORIES

    rng = setup(args)
    t0 = time.perf_counter()
    train = load_split("train", args.n_train, seed=args.seed)
    val = load_split("val", args.n_val, seed=args.seed)
    objs, parts = object_items(train), part_items(train)
    print(
        f"data: {len(train)} scenes, {len(objs)} object crops, {len(parts)} part crops "
        f"({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )

    cfg = small_config()
    clip = ClipModel(build_clip(cfg), make_tokenizer(cfg["text_cfg"]["context_length"]), device="cpu")
    model: Any = clip.model
    t_train = time.perf_counter()
    text_loss = text_warmup(clip, train, objs, parts, args.text_warmup, args.objects, args.lr, rng)
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith("visual.") or n == "logit_scale")
    model.eval()
    train_names = list(TRAIN_CATEGORIES)
    n_cat = len(train_names)
    class_emb = class_embeddings(clip, train_names)  # the locked text tower's classes, as at inference
    token_emb = torch.cat([class_emb, background_embedding(clip)[None]])
    label = {train.category_names.index(n): i for i, n in enumerate(train_names)}
    grid = clip.grid[0]
    scene_targets = torch.as_tensor(patch_targets(train, train.images.shape[1] // grid, train_names))
    token_weight = torch.ones(n_cat + 1)
    token_weight[n_cat] = args.background_weight  # background dominates the tokens

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.05)
    steps_per_epoch = min(len(objs) // args.objects, args.steps_per_epoch)
    total_steps = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total_steps, pct_start=0.05)
    command = train_command("recognize", argv)
    loop = EpochLoop(
        args.epochs,
        steps_per_epoch,
        desc="recognize",
        name=CHECKPOINT_NAME,
        run_key=command,
    )
    loop.track(model=model, optimizer=opt, scheduler=sched, rng=rng)
    loop.resume(not args.no_resume)
    for epoch in loop.epochs():
        model.train()
        order = rng.permutation(len(objs))
        for step in loop.steps(epoch):
            ob = [objs[j] for j in order[step * args.objects : (step + 1) * args.objects]]
            items = ob + [parts[j] for j in rng.choice(len(parts), size=args.parts, replace=False)]
            texts, keys = captions(train, items, rng)
            boxes = [jitter_box(it.box, rng, args.jitter) for it in items]
            flip = rng.random(len(items)) < 0.5
            crops = crop_batch(train.images, [it.image for it in items], boxes, clip.image_size, flip=flip)
            scene_idx = rng.choice(len(train), size=args.scenes, replace=False)
            scenes = torch.as_tensor(train.images[scene_idx]).permute(0, 3, 1, 2).float() / 255.0
            pooled, tokens = clip.image_and_tokens(torch.cat([clip.normalize(crops), clip.normalize(scenes)]))
            assert tokens is not None  # clip-small is a ViT
            img = F.normalize(pooled[: len(items)], dim=-1)
            scale = clip.logit_scale
            with torch.no_grad():
                txt = clip.text_embeddings(texts)
            loss = multi_positive_clip_loss(img, txt, keys, scale)
            labels = torch.tensor([label[it.category] for it in items])
            cls_loss = F.cross_entropy(scale * img[: len(ob)] @ class_emb.T, labels[: len(ob)])
            cover = object_coverage(train, items, boxes, grid, flip)
            targets = torch.cat([crop_token_targets(cover, labels, n_cat), scene_targets[scene_idx]])
            token_logits = scale * F.normalize(tokens, dim=-1) @ token_emb.T
            token_loss = F.cross_entropy(
                token_logits.reshape(-1, n_cat + 1),
                targets.reshape(-1),
                weight=token_weight,
                ignore_index=IGNORE,
            )
            total = loss + args.class_weight * cls_loss + args.token_weight * token_loss
            optimizer_step(total, opt, params, sched)
            with torch.no_grad():
                model.logit_scale.clamp_(0, np.log(100))
            loop.show(clip=loss.item(), cls=cls_loss.item(), tok=token_loss.item())
        model.eval()
        acc, _ = crop_accuracy(clip, val, train_names)
        loop.end_epoch(
            {"epoch": epoch + 1, "val_object_top1": round(acc, 4)},
            f"epoch {epoch + 1}: clip {loss.item():.3f} cls {cls_loss.item():.3f} "
            f"token {token_loss.item():.3f} "
            f"val object top-1 {acc:.3f} ({time.perf_counter() - t_train:.0f} s)",
        )
    history = loop.history
    trained = time.perf_counter() - t_train
    manifest = {
        "architecture": "open_clip.CLIP",
        "config": cfg,
        "tokenizer": f"open_clip SimpleTokenizer (context_length {cfg['text_cfg']['context_length']})",
        "dtype": "float16 on disk, float32 in memory",
        "data": {
            "dataset": "SynthParts",
            "split": "train",
            "n": len(train),
            "seed": args.seed,
            "object_crops": len(objs),
            "part_crops": len(parts),
        },
        "seed": args.seed,
        "command": command,
        "objective": f"text tower: {args.text_warmup} steps of caption-vs-caption multi-positive InfoNCE "
        f"(last loss {text_loss:.3f}), then locked; image tower: multi-positive CLIP loss on "
        "object/part crops + 27-way object classification against the class prompts + per-token "
        "classification (crops and scenes, classes + background)",
        "hyperparameters": {k: v for k, v in vars(args).items() if k not in ("out", "no_resume")},
        "metrics": {"val": history[-1], "history": history},
        "trained_seconds": round(trained, 1),
    }
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    write_checkpoint(
        CHECKPOINT_NAME, state, manifest, args.out, f"{trained:.0f} s of training; val {history[-1]}"
    )
    loop.finish()
    return 0
