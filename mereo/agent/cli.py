"""``mereo ask``, ``mereo demo`` and ``mereo bench [agent]``.

Heavy imports happen inside the functions so ``mereo --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from mereo.config import TOOL_FAMILIES

DEMO_TYPES = (
    "identification",
    "intersection",
    "difference",
    "part_to_whole",
    "whole_to_part",
    "common_objects",
    "common_parts",
    "unique_parts",
    "multistep",
)


def _backend_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("backends (see `mereo.list_backends()`)")
    g.add_argument("--config", help="YAML or JSON config file")
    g.add_argument(
        "--preset",
        help="named backends (mereo.config.PRESETS): default, small-tools, oracle, blind, photos, ...",
    )
    g.add_argument("--lmm", help="planner: offline (default), openai:<model> or transformers:<id or dir>")
    for family in TOOL_FAMILIES:
        g.add_argument(f"--{family}", help=f"{family} backend name")
    g.add_argument(
        "--oracle", action="store_true", help="oracle tools with SynthParts gold masks (demo and bench only)"
    )
    g.add_argument("--device", help="auto (CUDA when present), cpu, cuda or cuda:N")


def _check_options(args: argparse.Namespace) -> None:
    """Refuse unusable ``--device`` and ``--out`` before any model is built or question answered.

    Raises:
        DeviceError: an unknown device, or CUDA where there is none.
        UsageError: ``--out`` names an existing file (it must be a folder).
    """
    if getattr(args, "device", None):
        from mereo.device import resolve_device

        resolve_device(args.device)
    out = getattr(args, "out", None)
    if out and Path(out).exists() and not Path(out).is_dir():
        from mereo.errors import UsageError

        raise UsageError(f"--out {out} is an existing file; --out names a folder (new or existing).")


def _agent(args: argparse.Namespace) -> Any:
    from mereo.agent.agent import PartAgent

    _check_options(args)
    over: dict[str, Any] = {f: getattr(args, f) for f in (*TOOL_FAMILIES, "lmm", "device")}
    if getattr(args, "oracle", False):
        over.update({f: "oracle" for f in TOOL_FAMILIES})
    if getattr(args, "preset", None):
        if args.config:
            from mereo.errors import ValidationError

            raise ValidationError("give either --preset or --config, not both")
        return PartAgent.preset(args.preset, **over)
    return PartAgent(args.config, **over)


def _print_answer(ans: Any, show_trace: bool = True) -> None:
    print(f"A: {ans.text}")
    print(f"   labels: {', '.join(ans.labels) or '(none)'}   masks: {len(ans.parts)}   {ans.seconds:.2f} s")
    for n in ans.notes:
        print(f"   note: {n}")
    if show_trace:
        for s in ans.trace:
            backend = f" [{s.tool}:{s.backend}]" if s.backend else ""
            hit = "" if s.cache_hit is None else f" cache {'hit' if s.cache_hit else 'miss'}"
            print(f"   - {s.node}{backend} {s.seconds * 1000:.0f} ms{hit}")


def ask_main(argv: list[str]) -> int:
    """``mereo ask --image a.png [--image b.png] "question"``: print the answer, write the pictures."""
    p = argparse.ArgumentParser(prog="mereo ask", description="Answer a question about the parts of objects.")
    p.add_argument("question")
    p.add_argument("--image", action="append", default=[], help="an image file (repeat, in order)")
    p.add_argument("--out", default="ask_out", help="folder for overlays, answer.json, trace.html")
    p.add_argument("--thread", help="conversation id (follow-ups need --checkpointer FILE to persist)")
    p.add_argument("--checkpointer", help="SQLite file that keeps threads between runs")
    p.add_argument("--json", action="store_true", help="print answer.json instead of text")
    _backend_args(p)
    args = p.parse_args(argv)
    if args.oracle:
        p.error("--oracle needs gold masks; use it with `mereo demo` or `mereo bench`")
    _check_options(args)
    from mereo.agent.agent import PartAgent

    over = {f: getattr(args, f) for f in (*TOOL_FAMILIES, "lmm", "device", "checkpointer")}
    if args.preset:  # --preset was accepted but ignored before: the default backends answered
        if args.config:
            from mereo.errors import ValidationError

            raise ValidationError("give either --preset or --config, not both")
        agent = PartAgent.preset(args.preset, **over)
    else:
        agent = PartAgent(args.config, **over)
    ans = agent.ask(args.question, images=args.image, thread=args.thread)
    if args.json:
        print(json.dumps(ans.to_dict(), indent=1))
    else:
        print(f"Q: {args.question}")
        _print_answer(ans)
    written = ans.save(args.out)
    print(f"wrote {', '.join(str(w) for w in written)}")
    return 0


def _demo_items(n_scenes: int, seed: int) -> tuple[list[Any], dict[Any, Any]]:
    """One SynthParts test question per type, drawn deterministically, and the scenes by uid."""
    from mereo.data.synthparts import generate_scenes
    from mereo.data.synthparts.questions import make_questions

    scenes = list(generate_scenes("test", n_scenes, seed=seed))
    by_uid = {s.uid: s for s in scenes}
    picked: dict[str, Any] = {}
    for suite in ("partonomy", "pairs", "multistep"):
        for item in make_questions(scenes, suite, seed=seed, per_image=1):
            picked.setdefault(item.question_type, item)
    return [picked[t] for t in DEMO_TYPES if t in picked], by_uid


def demo_main(argv: list[str]) -> int:
    """``mereo demo [--out demo_out]``: answer one question of each type on SynthParts images."""
    p = argparse.ArgumentParser(prog="mereo demo", description="Answer a handful of SynthParts questions.")
    p.add_argument("--out", default="demo_out", help="folder for the pictures")
    p.add_argument("--seed", type=int, default=0)
    _backend_args(p)
    args = p.parse_args(argv)
    from PIL import Image

    agent = _agent(args)
    items, by_uid = _demo_items(12, args.seed)
    out = Path(args.out)
    correct = 0
    for k, item in enumerate(items):
        arrays = [by_uid[str(g.image_id)].image for g in item.images]
        folder = out / f"{k + 1:02d}_{item.question_type}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, (arr, g) in enumerate(zip(arrays, item.images, strict=True)):
            Image.fromarray(arr).save(folder / f"input{i + 1}.png")
            agent.register_gold(arr, g.parts)
        ans = agent.ask(item.question, images=arrays)
        ans.save(folder)
        correct += ans.labels == item.gold_labels
        print(f"\n[{item.question_type}] Q: {item.question}")
        _print_answer(ans, show_trace=False)
        print(f"   gold:   {', '.join(item.gold_labels)}   -> {folder}")
    print(f"\n{correct}/{len(items)} answers match the gold labels exactly; pictures in {out}/")
    return 0


def bench_main(argv: list[str]) -> int:
    """``mereo bench [agent]``: seconds per two-image question after the first (models loaded)."""
    p = argparse.ArgumentParser(prog="mereo bench agent", description="Time two-image questions.")
    p.add_argument("--n", type=int, default=6, help="timed questions (after one warm-up)")
    p.add_argument("--seed", type=int, default=0)
    _backend_args(p)
    args = p.parse_args(argv)
    from mereo.data.synthparts import generate_scenes
    from mereo.data.synthparts.questions import make_questions

    t0 = time.perf_counter()
    agent = _agent(args).warm_up()  # every backend built, so the first question times the question
    print(f"agent built in {time.perf_counter() - t0:.2f} s; backends: {agent.config.backends()}")
    scenes = list(generate_scenes("test", max(8, args.n + 2), seed=args.seed))
    by_uid = {s.uid: s for s in scenes}
    items = [
        it
        for it in make_questions(scenes, "pairs", seed=args.seed, per_image=1)
        if it.question_type in ("common_parts", "unique_parts")
    ][: args.n + 1]
    times, repeat = [], []
    for k, item in enumerate(items):
        arrays = [by_uid[str(g.image_id)].image for g in item.images]
        for arr, g in zip(arrays, item.images, strict=True):
            agent.register_gold(arr, g.parts)
        t = time.perf_counter()
        agent.ask(item.question, images=arrays)
        first = time.perf_counter() - t
        t = time.perf_counter()
        agent.ask(item.question, images=arrays)
        again = time.perf_counter() - t
        label = "warm-up" if k == 0 else f"q{k}"
        print(
            f"{label:8s} {first:6.3f} s new images   {again:6.3f} s same images (feature cache)   "
            f"{item.question}"
        )
        if k:
            times.append(first)
            repeat.append(again)
    if times:
        print(
            f"two-image question after the first: median {statistics.median(times):.3f} s, "
            f"mean {statistics.mean(times):.3f} s, "
            f"max {max(times):.3f} s (new images); mean {statistics.mean(repeat):.3f} s (cached)"
        )
    return 0
