"""``mereo data ...`` and ``mereo bench data``.

- ``mereo data synthparts --split test --n 500 --seed 0 --out DIR``: export (see ``export``);
- ``mereo data stats DIR``: counts per category, part and question type, and ``DIR/datasheet.png``;
- ``mereo data colour-check``: the pixel-colour -> part-label classifier figure;
- ``mereo bench data``: rendering speed, images/second and seconds for 10,000 images.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mereo.errors import DatasetError


def _export(argv: list[str]) -> int:
    from mereo.data.synthparts.compose import SPLIT_STREAMS
    from mereo.data.synthparts.export import export

    ap = argparse.ArgumentParser(
        prog="mereo data synthparts",
        description="Export SynthParts images, "
        "COCO part masks, Partonomy-Core, MixedParts and multi-step questions.",
    )
    ap.add_argument("--split", default="test", choices=list(SPLIT_STREAMS))
    ap.add_argument("--n", type=int, default=500, help="number of images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=128, help="image side in pixels")
    ap.add_argument("--per-image", type=int, default=1, help="questions per image and suite")
    ap.add_argument("--workers", type=int, default=1, help="rendering processes")
    ap.add_argument("--out", required=True, help="output folder")
    a = ap.parse_args(argv)
    if a.n <= 0:
        raise DatasetError(f"--n must be positive, got {a.n}")
    counts = export(a.out, a.split, a.n, a.seed, size=a.size, per_image=a.per_image, workers=a.workers)
    print(f"wrote {a.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _stats(argv: list[str]) -> int:
    from mereo.data.synthparts.stats import grid, report

    ap = argparse.ArgumentParser(prog="mereo data stats", description="Counts and an example grid.")
    ap.add_argument("folder")
    ap.add_argument("--grid", default=None, help="picture path (default FOLDER/datasheet.png)")
    ap.add_argument("--n", type=int, default=16, help="examples in the picture")
    a = ap.parse_args(argv)
    print(report(a.folder))
    out = grid(a.folder, a.grid or Path(a.folder) / "datasheet.png", n=a.n)
    print(f"example grid (image | part masks): {out}")
    return 0


def _colour(argv: list[str]) -> int:
    from mereo.data.synthparts.colourcheck import colour_check

    ap = argparse.ArgumentParser(
        prog="mereo data colour-check", description="Fit pixel colour -> part label on train, score on test."
    )
    ap.add_argument("--train", type=int, default=300, help="train images")
    ap.add_argument("--test", type=int, default=100, help="test images")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(colour_check(a.train, a.test, a.seed).summary())
    return 0


COMMANDS = {"synthparts": _export, "stats": _stats, "colour-check": _colour, "color-check": _colour}


def main(argv: list[str]) -> int:
    """``mereo data {synthparts|stats|colour-check} ...``."""
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        if argv:
            from mereo.cli import captured_help

            for name, func in COMMANDS.items():
                if name != "color-check":  # an alias
                    print(f"== mereo data {name}\n{captured_help(func, ['--help'])}\n")
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"mereo data: unknown subcommand {argv[0]!r}; choose from synthparts, stats, colour-check")
        return 2
    return COMMANDS[argv[0]](argv[1:])


def bench_main(argv: list[str]) -> int:
    """``mereo bench data [--n 10000] [--workers 1] [--size 128]``: time scene rendering."""
    from mereo.data.synthparts.compose import generate_scenes

    ap = argparse.ArgumentParser(prog="mereo bench data", description="SynthParts rendering speed.")
    ap.add_argument("--n", type=int, default=10_000, help="images to render")
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="rendering processes (2 pays off only on idle cores; same images either way)",
    )
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--split", default="train")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    done = sum(1 for _ in generate_scenes(a.split, a.n, 0, a.size, workers=a.workers))
    dt = time.perf_counter() - t0
    rate = done / max(dt, 1e-9)
    print(
        f"rendered {done} {a.size}x{a.size} {a.split} images in {dt:.1f} s with {a.workers} worker(s): "
        f"{rate:.0f} images/s; 10,000 images take {10_000 / rate:.0f} s"
    )
    return 0
