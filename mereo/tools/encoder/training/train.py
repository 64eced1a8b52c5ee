"""Train the shared image encoder (``mereo train encoder``) on freshly rendered SynthParts scenes.

Every step renders new ``train`` scenes (scene ``i`` is the ``i``-th the encoder sees), trains the
multi-task losses of :mod:`.losses`, validates on fixed ``val`` and ``novel`` scenes every few
minutes (a learning curve, ``curve.jsonl`` in the state folder: metrics against scenes seen), and
saves its whole state (model, optimizer, step, scenes seen, seconds) atomically so that
``--resume`` continues after a kill. The learning rate follows a cosine over the wall-time budget
``--max-minutes``. At the end it writes ``mereo/checkpoints/<name>.safetensors`` plus manifest;
``--finalize-from-state`` writes them from the last saved state of an unfinished run.

``--init-from`` starts a second stage from a committed checkpoint's weights (a fresh optimizer and
its own cosine over its own budget, scenes numbered on from those the checkpoint saw, so they are
new); the manifest then records both stages' commands, seconds and curves.

Example:
    mereo train encoder --max-minutes 95 --state-dir runs/encoder
    mereo train encoder --max-minutes 95 --state-dir runs/encoder --resume
    mereo train encoder --init-from mereo/checkpoints/synthparts-cnn.safetensors --max-minutes 25 --lr 1e-3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from mereo.errors import CheckpointError
from mereo.tools.encoder.model import NAME, EncoderConfig, SynthPartsCNN, build_model, n_parameters
from mereo.tools.encoder.training.data import Batch, arrays_to_batch, render_arrays, render_batch
from mereo.tools.encoder.training.losses import batch_losses
from mereo.tools.encoder.training.validate import validate

STATE_FILE = "state.pt"
CURVE_FILE = "curve.jsonl"
WARMUP_STEPS = 200
#: the learning rate falls to this fraction of ``--lr`` at the end of the budget
FINAL_LR_FRACTION = 0.05


def lr_factor(step: int, elapsed: float, budget: float) -> float:
    """Linear warm-up over ``WARMUP_STEPS`` steps, then a cosine over the wall-time budget."""
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    frac = min(1.0, elapsed / max(budget, 1e-9))
    return warm * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * frac)))


def category_setup() -> tuple[list[str], torch.Tensor, torch.Tensor, list[int]]:
    """Category names, their text vectors ``K x 384``, the training mask ``K`` and novel indices."""
    from mereo.data.synthparts import CATEGORIES, NOVEL_CATEGORIES, TRAIN_CATEGORIES
    from mereo.tools.encoder.text import name_embeddings

    names = list(CATEGORIES)
    allowed = torch.tensor([c in TRAIN_CATEGORIES for c in names])
    novel = [names.index(c) for c in NOVEL_CATEGORIES]
    return names, name_embeddings(names), allowed, novel


def save_state(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file, then an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(f"no saved training state at {path}; start without --resume.")
    return torch.load(path, map_location="cpu", weights_only=True)


def model_config(args: argparse.Namespace) -> EncoderConfig:
    from mereo.data.synthparts import PART_LABELS

    return EncoderConfig(
        channels=tuple(args.channels),  # type: ignore[arg-type]
        blocks=tuple(args.blocks),  # type: ignore[arg-type]
        dim=args.dim,
        image_size=args.size,
        n_parts=len(PART_LABELS),
        part_labels=list(PART_LABELS),
    )


def write_checkpoint(
    model: SynthPartsCNN, state: dict[str, Any], metrics: dict[str, float], args: argparse.Namespace
) -> dict[str, Any]:
    """The committed checkpoint: weights plus a manifest of how they were made."""
    from mereo.checkpoints import save_checkpoint, train_command

    curve = read_curve(Path(args.state_dir))
    prior = state.get("prior") or {}
    manifest = {
        "family": "encoder",
        "config": model.cfg.to_dict(),
        "category_names": state["category_names"],
        "metrics_val": metrics,
        "scenes_seen": state["scenes"],
        "steps": state["step"],
        "seconds": round(state["elapsed"] + sum(s["seconds"] for s in prior.get("stages", [])), 1),
        "train_images_per_s": round(state["images_step_s"], 2),
        "render_scenes_per_s": round(state["render_scenes_s"], 1),
        "device": state.get("device", "cpu"),
        "threads": args.threads,
        "host": platform.machine(),
        "command": state.get("command") or train_command("encoder", []),
        "parameters": n_parameters(model),
        "curve": list(prior.get("curve", [])) + [{"scenes": c["scenes"], **c["metrics"]} for c in curve],
    }
    if prior:
        stage = {"command": manifest["command"], "seconds": round(state["elapsed"], 1)}
        manifest["stages"] = [*prior["stages"], stage]
        manifest["command"] = " && ".join(s["command"] for s in manifest["stages"])
    if args.finalize_from_state:  # written from the saved state of a run that was stopped
        manifest["finalized_from_state_by"] = args.command
        manifest["budget_minutes"] = args.max_minutes
    saved = save_checkpoint(args.name, model.state_dict(), manifest, args.out_dir)
    if args.out_dir is None and args.name == NAME:  # the committed encoder: refresh its name vectors
        from mereo.tools.encoder.text import write_name_vectors

        write_name_vectors(state["category_names"])
    return saved


def read_curve(state_dir: Path, max_scenes: int | None = None) -> list[dict[str, Any]]:
    path = state_dir / CURVE_FILE
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if max_scenes is None or r["scenes"] <= max_scenes]


def _rewrite_curve(state_dir: Path, rows: list[dict[str, Any]]) -> None:
    tmp = state_dir / (CURVE_FILE + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, state_dir / CURVE_FILE)


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or resume) training; returns the checkpoint manifest."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    state_dir = Path(args.state_dir)
    state_path = state_dir / STATE_FILE
    names, text, allowed, novel_ids = category_setup()
    cfg = model_config(args)
    resumed = None
    if args.resume or args.finalize_from_state:
        resumed = load_state(state_path)
        cfg = EncoderConfig.from_dict(json.loads(resumed["config"]))
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    st: dict[str, Any] = {
        "step": 0,
        "scenes": 0,
        "elapsed": 0.0,
        "images_step_s": 0.0,
        "render_scenes_s": 0.0,
        "category_names": names,
        "device": "cpu",
        "command": None,
        "prior": None,
    }
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        opt.load_state_dict(resumed["optimizer"])
        st.update({k: resumed[k] for k in st if k in resumed})
        _rewrite_curve(state_dir, read_curve(state_dir, st["scenes"]))
    else:
        st["command"] = args.command
        state_dir.mkdir(parents=True, exist_ok=True)
        _rewrite_curve(state_dir, [])
        if args.init_from:
            st.update(init_from(model, args.init_from))

    val = arrays_to_batch(render_arrays("val", args.seed, 0, args.n_val, cfg.image_size))
    novel = arrays_to_batch(render_arrays("novel", args.seed + 1000, 0, args.n_novel, cfg.image_size))
    if args.finalize_from_state:
        return write_checkpoint(model, st, validate(model, val, text, allowed, novel, novel_ids), args)

    def snapshot() -> None:
        st_out = dict(
            st, model=model.state_dict(), optimizer=opt.state_dict(), config=json.dumps(cfg.to_dict())
        )
        save_state(state_path, st_out)

    budget = args.max_minutes * 60.0
    gen = torch.Generator().manual_seed(args.seed)
    t_session = time.monotonic()
    base_elapsed = st["elapsed"]
    last_save = last_val = time.monotonic()
    render_s = step_s = 0.0
    n_render = n_step = 0
    running: dict[str, float] = {}
    bar = tqdm(
        total=int(budget), initial=int(base_elapsed), unit="s", desc="train encoder", disable=args.quiet
    )
    metrics: dict[str, float] = {}

    def log_val() -> None:
        nonlocal metrics
        metrics = validate(model, val, text, allowed, novel, novel_ids)
        row = {
            "scenes": st["scenes"],
            "step": st["step"],
            "seconds": round(st["elapsed"], 1),
            "lr": opt.param_groups[0]["lr"],
            "images_step_s": round(st["images_step_s"], 2),
            "render_scenes_s": round(st["render_scenes_s"], 1),
            "loss": {k: round(v, 4) for k, v in running.items()},
            "metrics": metrics,
        }
        with open(state_dir / CURVE_FILE, "a") as f:
            f.write(json.dumps(row) + "\n")
        tqdm.write(json.dumps(row), file=sys.stderr)

    if st["step"] == 0:
        log_val()
    model.train()
    while st["elapsed"] < budget and (args.max_steps is None or st["step"] < args.max_steps):
        for g in opt.param_groups:
            g["lr"] = args.lr * lr_factor(st["step"], st["elapsed"], budget)
        t0 = time.perf_counter()
        batch: Batch = render_batch(args.seed, st["scenes"], args.batch_size, cfg.image_size, zoom=args.zoom)
        t1 = time.perf_counter()
        gen.manual_seed(args.seed * 1_000_003 + st["step"])
        out = model(batch.images)
        losses = batch_losses(model, out, batch, text, allowed, gen)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        t2 = time.perf_counter()
        render_s, step_s = render_s + t1 - t0, step_s + t2 - t1
        n_render, n_step = n_render + len(batch), n_step + len(batch)
        st["images_step_s"] = n_step / max(step_s, 1e-9)
        st["render_scenes_s"] = n_render / max(render_s, 1e-9)
        st["step"] += 1
        st["scenes"] += len(batch)
        for k, v in losses.items():
            x = float(v.detach())
            running[k] = 0.98 * running.get(k, x) + 0.02 * x
        before = int(st["elapsed"])
        st["elapsed"] = base_elapsed + time.monotonic() - t_session
        bar.update(int(st["elapsed"]) - before)
        bar.set_postfix(
            loss=f"{running['total']:.3f}", scenes=st["scenes"], img_s=f"{st['images_step_s']:.1f}"
        )
        now = time.monotonic()
        if now - last_val >= args.val_every_minutes * 60:
            log_val()
            last_val = now
        if now - last_save >= args.save_every_minutes * 60:
            snapshot()
            last_save = now
    bar.close()
    log_val()
    snapshot()
    return write_checkpoint(model, st, metrics, args)


def init_from(model: SynthPartsCNN, path: str) -> dict[str, Any]:
    """Load a committed checkpoint's weights into ``model``; the state a second stage starts from
    (its scenes, and the earlier stages for the manifest)."""
    from mereo.checkpoints import load_checkpoint

    p = Path(path)
    weights, manifest = load_checkpoint(p.name.removesuffix(".safetensors"), p.parent)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not fit this encoder configuration ({e}).") from e
    stages = manifest.get("stages") or [{"command": manifest["command"], "seconds": manifest["seconds"]}]
    prior = {"stages": stages, "curve": manifest.get("curve", [])}
    return {"scenes": int(manifest["scenes_seen"]), "prior": prior}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mereo train encoder", description=__doc__.split("\n")[0])
    p.add_argument("--max-minutes", type=float, default=95.0, help="wall-time budget (cosine schedule)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (tests)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--state-dir", default="runs/encoder", help="training state and learning curve")
    p.add_argument("--resume", action="store_true", help="continue from <state-dir>/state.pt")
    p.add_argument(
        "--init-from",
        default=None,
        help="start a further stage from this checkpoint's weights (fresh optimizer and schedule)",
    )
    p.add_argument(
        "--finalize-from-state",
        action="store_true",
        help="write the checkpoint from the saved state and stop",
    )
    p.add_argument(
        "--zoom", type=float, default=0.0, help="share of scenes seen zoomed in on one object (0-1)"
    )
    p.add_argument("--save-every-minutes", type=float, default=3.0)
    p.add_argument("--val-every-minutes", type=float, default=5.0)
    p.add_argument("--n-val", type=int, default=64, help="fixed val scenes")
    p.add_argument("--n-novel", type=int, default=48, help="fixed novel scenes (novel5)")
    p.add_argument("--channels", type=_ints, default=[48, 96, 160])
    p.add_argument("--blocks", type=_ints, default=[1, 2, 2])
    p.add_argument("--dim", type=int, default=96)
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--name", default=NAME)
    p.add_argument("--out-dir", default=None, help="checkpoint folder (default: mereo/checkpoints)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--plot", default=None, help="also write the learning curve as a PNG here")
    args = p.parse_args(list(argv))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from mereo.checkpoints import train_command

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.command = train_command("encoder", [a for a in argv if a != "--resume"])
    manifest = train(args)
    if args.plot:
        from mereo.tools.encoder.training.plot import plot_curve

        # every stage's curve: the manifest carries the earlier stages' rows before this one's
        rows = [
            {"scenes": r["scenes"], "metrics": {k: v for k, v in r.items() if k != "scenes"}}
            for r in manifest.get("curve", [])
        ] or read_curve(Path(args.state_dir))
        print(f"learning curve: {plot_curve(rows, args.plot)}")
    print(
        f"{manifest['name']}: {manifest['scenes_seen']} scenes in {manifest['seconds']:.0f} s; "
        f"val {json.dumps(manifest['metrics_val'])}"
    )
    return 0
