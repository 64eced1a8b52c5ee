"""Tune the colour-guided refinement of the synthparts-cnn segment backend on SynthParts val.

Prints identification gIoU (overall and by objects in the scene) for the coarse maps and for
each filter setting; the best one goes into ``mereo/tools/encoder/refine.py`` (``RefineSettings``).

    python scripts/tune_refine.py --n 120
"""

from __future__ import annotations

import argparse
import time

import torch

from mereo.cache import FeatureCache
from mereo.tools.base import ToolContext
from mereo.tools.encoder.refine import RefineSettings
from mereo.tools.encoder.runtime import load_encoder
from mereo.tools.segment.shared import SharedEncoderSegmenter
from mereo.tools.segment.training.evaluate import evaluate_backend, load_eval_set, make_items

GRID = [
    None,
    RefineSettings(10.0, 2, 6, 1),
    RefineSettings(10.0, 2, 4, 2),
    RefineSettings(10.0, 2, 6, 2),
    RefineSettings(14.0, 2, 4, 2),
    RefineSettings(10.0, 2, 8, 2),
    RefineSettings(10.0, 3, 4, 2),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", default="val")
    p.add_argument("--n", type=int, default=120, help="scenes")
    args = p.parse_args()
    torch.set_num_threads(1)
    scenes, images, golds = load_eval_set(args.split, args.n, 0)
    items = make_items(scenes, golds, 0, types=["identification"])
    encoder = load_encoder()
    for settings in GRID:
        seg = SharedEncoderSegmenter(ToolContext(FeatureCache(max_items=1024)), encoder, refine=settings)
        t0 = time.perf_counter()
        r = evaluate_backend(seg, items, images, progress=False)
        row = {k: round(v["giou_macro"], 4) for k, v in r.items() if k == "identification" or "obj" in k}
        print(settings or "coarse", row, f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
