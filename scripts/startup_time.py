"""Time what `mereo ask` spends before its question: imports, ``PartAgent()``, the first question.

Usage:
    python scripts/startup_time.py [--image PNG] [--question TEXT] [--repeat 3]

Prints, each the median of ``--repeat`` fresh processes (seconds):
- ``import torch``: ``python -c "import torch"`` (the yardstick);
- ``mereo ask``: the whole ``python -m mereo.cli ask`` command on one image;
- inside one process: ``import mereo`` + ``PartAgent()``, the first question (which builds the
  backends it needs), and the same question on a second image (the question itself).
The target (issue 14): ``mereo ask`` <= 2 x ``import torch`` + the question itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

_INNER = r"""
import sys, time, json
t0 = time.perf_counter()
import mereo
from mereo import PartAgent
agent = PartAgent()
t1 = time.perf_counter()
agent.ask(sys.argv[2], images=[sys.argv[1]])
t2 = time.perf_counter()
import numpy as np
from PIL import Image
flipped = np.ascontiguousarray(np.asarray(Image.open(sys.argv[1]).convert("RGB"))[:, ::-1])
agent.ask(sys.argv[2], images=[flipped])
t3 = time.perf_counter()
print(json.dumps({"agent": t1 - t0, "first": t2 - t1, "question": t3 - t2}))
"""


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image", default=None, help="a SynthParts image (default: test scene 0, generated)")
    p.add_argument("--question", default=None)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    image, question = args.image, args.question
    if image is None:
        from mereo.data.synthparts import generate_scenes
        from mereo.data.synthparts.questions import make_questions

        scene = next(iter(generate_scenes("test", 1, seed=0)))
        item = make_questions([scene], "partonomy", seed=0, per_image=1)[0]
        from PIL import Image

        image = "/tmp/mereo-startup-image.png"
        Image.fromarray(scene.image).save(image)
        question = question or item.question
    question = question or "What visible parts does the object in the image have?"
    py = sys.executable
    rows: dict[str, list[float]] = {
        "import torch": [],
        "mereo ask": [],
        "agent": [],
        "first": [],
        "question": [],
    }
    for _ in range(args.repeat):
        rows["import torch"].append(_wall([py, "-c", "import torch"], env))
        out = Path("/tmp/mereo-startup-out")
        rows["mereo ask"].append(
            _wall([py, "-m", "mereo.cli", "ask", "--image", image, "--out", str(out), question], env)
        )
        res = subprocess.run(
            [py, "-c", _INNER, image, question], env=env, check=True, capture_output=True, text=True
        )
        import json

        inner = json.loads(res.stdout.strip().splitlines()[-1])
        for k in ("agent", "first", "question"):
            rows[k].append(inner[k])
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"question: {question!r} on {image}")
    print(f"python -c 'import torch'          {med['import torch']:.2f} s")
    print(f"mereo ask (whole command)         {med['mereo ask']:.2f} s")
    print(f"  import mereo + PartAgent()      {med['agent']:.2f} s")
    print(f"  first question (builds tools)   {med['first']:.2f} s")
    print(f"  the question itself (warm)      {med['question']:.2f} s")
    budget = 2 * med["import torch"] + med["question"]
    verdict = "within" if med["mereo ask"] <= budget else "over"
    print(f"target 2 x import torch + question = {budget:.2f} s: mereo ask is {verdict} it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
