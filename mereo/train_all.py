"""``mereo train all`` (= ``make train``): retrain every committed checkpoint, on both cores.

The shared encoder's first stage trains on one thread for a fixed wall time (95 minutes); the
four older tools (dinov2-small, clip-small, calico-small, plum-small) train for a fixed number of
epochs each, so they run meanwhile on the other core, one after another, as a child process
whose output goes to ``runs/train-all/<tool>.log``. When both lanes are done, the encoder's second
stage (25 minutes, two threads) starts from the first stage's weights and its third (40 minutes,
two threads, half the scenes zoomed in on one object) from the second's. About 2 h 50 min in all
on this 2-core machine (estimated from the trainers' recorded times and a probe of both lanes at
once; see the README), against 4 h one after another (``--serial``).

Options after ``all`` go to every trainer; ``--resume`` goes to the encoder's stages only (the
other trainers resume from their saved state by themselves). Each lane stops at its first
failure and the command exits with that trainer's code.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: the encoder's three stages: the first on one thread (the other lane gets the other core); the
#: second from the first's weights, at a lower rate, on both threads; the third from the
#: second's, with half the scenes seen zoomed in on one object (as the zoomed segmentation and
#: the closer look see them), and the learning curve of all three drawn at its end
_AFTER = ("--init-from", "mereo/checkpoints/synthparts-cnn.safetensors", "--threads", "2")
ENCODER_STAGES: tuple[tuple[str, ...], ...] = (
    ("--threads", "1"),
    (*_AFTER, "--max-minutes", "25", "--lr", "1e-3", "--state-dir", "runs/encoder-2"),
    (
        *_AFTER,
        "--max-minutes",
        "40",
        "--lr",
        "7e-4",
        "--zoom",
        "0.5",
        "--state-dir",
        "runs/encoder-3",
        "--plot",
        "docs/img/encoder_curve.png",
    ),
)
#: the older tools, in order (calico-small reads the dinov2-small and clip-small checkpoints),
#: each on one thread while the encoder's first stage has the other core
SIDE_LANE: tuple[str, ...] = ("correspond", "recognize", "coseg", "segment")
LOG_DIR = Path("runs/train-all")
#: how the side lane starts one trainer: this, then the trainer's name and options
TRAINER = (sys.executable, "-m", "mereo.cli", "train")


def steps(serial: bool = False) -> list[tuple[str, tuple[str, ...], str]]:
    """Every run of ``mereo train all``: ``(trainer, options, lane)``; the lane is ``"main"``,
    ``"side"`` (concurrently with the encoder's first stage) or ``"after"`` (once both are done)."""
    side = "main" if serial else "side"
    return [
        ("encoder", ENCODER_STAGES[0], "main"),
        *((name, ("--threads", "1"), side) for name in SIDE_LANE),
        *(("encoder", stage, "after") for stage in ENCODER_STAGES[1:]),
    ]


def side_lane(
    runs: list[tuple[str, tuple[str, ...]]], extra: list[str], log_dir: Path = LOG_DIR
) -> subprocess.Popen[bytes]:
    """Start the side lane: one child process that runs the trainers (:data:`TRAINER`) one after
    another, each writing to ``log_dir/<name>.log``, stopping at the first failure."""
    log_dir.mkdir(parents=True, exist_ok=True)
    script = (
        "import subprocess, sys\n"
        "for name, opts, log in RUNS:\n"
        "    with open(log, 'wb') as f:\n"
        "        code = subprocess.call([*TRAINER, name, *opts], stdout=f, stderr=subprocess.STDOUT)\n"
        "    print(f'side lane: mereo train {name} exited with {code}', flush=True)\n"
        "    if code:\n"
        "        sys.exit(code)\n"
    )
    spec = [(name, [*opts, *extra], str(log_dir / f"{name}.log")) for name, opts in runs]
    return subprocess.Popen([sys.executable, "-c", f"TRAINER = {list(TRAINER)!r}\nRUNS = {spec!r}\n{script}"])


def run(rest: Sequence[str], train: Callable[[str, list[str]], int], serial: bool = False) -> int:
    """Run every step; ``train(name, argv)`` runs one trainer in this process (the side lane
    runs its trainers as child processes)."""
    rest = list(rest)
    resume = ["--resume"] if "--resume" in rest else []
    extra = [a for a in rest if a != "--resume"]
    plan = steps(serial)
    side = [(name, opts) for name, opts, lane in plan if lane == "side"]
    start = time.monotonic()
    child = None
    if side:
        child = side_lane(side, extra)
        names = ", ".join(name for name, _ in side)
        print(f"== side lane (one thread each, logs in {LOG_DIR}/): {names}", flush=True)
    for name, opts, lane in plan:
        if lane == "side":
            continue
        if lane == "after" and child is not None:
            code = child.wait()
            child = None
            if code:
                print(f"mereo train all: the side lane failed (exit {code}); see {LOG_DIR}/", file=sys.stderr)
                return code
        argv = [*opts, *extra, *(resume if name == "encoder" else [])]
        print(f"== mereo train {' '.join([name, *argv])}", flush=True)
        code = train(name, argv)
        if code:
            if child is not None:
                child.wait()
            return code
    print(f"mereo train all: done in {(time.monotonic() - start) / 60:.0f} min", flush=True)
    return 0
