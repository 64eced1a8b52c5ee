"""``mereo bench startup``: how long a fresh process takes to get going (issue 14, item 9).

Each step runs in a new Python process, ``--repeat`` times, and the median wall-clock seconds are
printed: ``import torch`` (the floor), ``import mereo`` + ``PartAgent()``, the first MiniLM
sentence embedding, and a whole ``mereo ask`` on one SynthParts image; then the question itself on
a warm agent. The target: the one-image ``mereo ask`` within twice ``import torch`` plus the
question itself (printed: met / not met).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "What parts does the {} have?"
#: the steps timed, in order
STEPS = ("import torch", "import mereo + PartAgent()", "first MiniLM encode", "mereo ask (one image)")


def _steps(image: Path, question: str, out: Path) -> list[tuple[str, list[str]]]:
    py = [sys.executable, "-c"]
    cmds = [
        [*py, "import torch"],
        [*py, "import mereo; mereo.PartAgent()"],
        [*py, "from mereo.text import get_encoder; get_encoder().encode(['chair'])"],
        [sys.executable, "-m", "mereo.cli", "ask", "--image", str(image), "--out", str(out), question],
    ]
    return list(zip(STEPS, cmds, strict=True))


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    return seconds


def _scene(folder: Path) -> tuple[Path, str]:
    """The first SynthParts test scene as a PNG, and a question about its largest object."""
    from PIL import Image

    from mereo.data.synthparts import generate_scenes

    scene = next(generate_scenes("test", 1, seed=0))
    obj = max(scene.objects, key=lambda o: int(o.mask.sum()))
    path = folder / "scene.png"
    Image.fromarray(scene.image).save(path)
    return path, QUESTION.format(obj.category)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="mereo bench startup",
        description="Seconds a fresh process takes: import torch, import mereo + PartAgent(), "
        "the first MiniLM encode, a whole one-image `mereo ask` (median of --repeat runs each).",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs of each step (the median is printed)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        image, question = _scene(Path(tmp))
        print(f"one-image question: {question!r} on SynthParts test scene 0", flush=True)
        medians = {}
        for name, cmd in _steps(image, question, Path(tmp) / "ask_out"):
            runs = [_time(cmd) for _ in range(max(1, args.repeat))]
            medians[name] = statistics.median(runs)
            shown = ", ".join(f"{r:.2f}" for r in runs)
            print(f"{name:28s} {medians[name]:7.3f} s   (runs: {shown})", flush=True)
        warm = statistics.median(_warm_question(image, question) for _ in range(max(1, args.repeat)))
        print(f"{'the question (warm agent)':28s} {warm:7.3f} s", flush=True)
    ratio = medians["mereo ask (one image)"] / medians["import torch"]
    print(f"{'mereo ask / import torch':28s} {ratio:7.2f} x")
    bound = 2 * medians["import torch"] + warm
    ok = medians["mereo ask (one image)"] <= bound
    print(f"{'target: 2 x torch + question':28s} {bound:7.3f} s   ({'met' if ok else 'not met'})")
    return 0


def _warm_question(image: Path, question: str) -> float:
    """Seconds of the question on an agent that already answered one about another image."""
    code = (
        "import sys, time\n"
        "import mereo\n"
        "from mereo.data.synthparts import generate_scene\n"
        "agent = mereo.PartAgent()\n"
        "other = generate_scene('test', 0, 1)\n"
        "agent.ask(f'What parts does the {other.objects[0].category} have?', images=[other.image])\n"
        "t = time.perf_counter()\n"
        "agent.ask(sys.argv[2], images=[sys.argv[1]])\n"
        "print(time.perf_counter() - t)\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(image), question], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"the warm question failed:\n{res.stderr[-2000:]}")
    return float(res.stdout.strip().splitlines()[-1])
