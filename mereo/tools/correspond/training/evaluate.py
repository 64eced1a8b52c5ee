"""`mereo eval correspond`: part matching and keypoint transfer on SynthParts object pairs.

Pairs are two objects in two different images that share at least one visible part label (a
chair and a table both have legs). For every shared label:

- part matching: the part of object A is compared (mask-pooled features, cosine) with every part
  of object B; it is correct when its best match is B's part of the same label. Chance is about
  one over the number of B's parts.
- keypoint transfer (PCK): the keypoint of a part is its pixel nearest to the part's centroid.
  A's keypoint is mapped into image B with :func:`~mereo.tools.correspond.matching.transfer_points`
  and is correct when it lands within ``alpha * max(w, h)`` of B's keypoint, with ``w, h`` the box
  of object B (PCK@0.1 and PCK@0.2). Labels that occur in another object of image B are skipped,
  so the keypoint is unambiguous.

Feature functions compared: the trained encoder, the same architecture with random weights,
raw pixels (each 8 x 8 patch's normalised RGB values), and optionally ``clip-patches``.

``--calibrate Q`` (run it on ``--split val``) also prints the similarity of same-label part pairs
and picks the agent's threshold for the trained encoder: the ``Q`` quantile of those
similarities, so that with perfect masks only a fraction ``Q`` of truly shared parts would be
judged unlike. ``--write-threshold`` stores it in the dinov2-small manifest
(``match_threshold``), where the ``dinov2-small`` backend reads it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mereo.data.arrays import SceneArrays, load_split
from mereo.tools.correspond.matching import cosine_matrix, part_descriptors, transfer_points

#: images (``B x H x W x 3`` uint8) -> (``B x N x D`` tokens, grid)
FeatureFn = Callable[[np.ndarray], tuple[torch.Tensor, tuple[int, int]]]


@dataclass
class Pair:
    """Object ``ka`` of image ``ia`` and object ``kb`` of image ``ib``."""

    ia: int
    ka: int
    ib: int
    kb: int


def sample_pairs(data: SceneArrays, n: int, seed: int = 0) -> list[Pair]:
    """``n`` object pairs from different images that share at least one visible part label."""
    rng = np.random.default_rng(seed)
    objs = [(i, k, set(data.object_parts(i, k))) for i in range(len(data)) for k, _ in data.objects(i)]
    objs = [o for o in objs if o[2]]
    pairs: list[Pair] = []
    tries = 0
    while len(pairs) < n and tries < 50 * n and len(objs) > 1:
        tries += 1
        a, b = rng.choice(len(objs), size=2, replace=False)
        (ia, ka, pa), (ib, kb, pb) = objs[a], objs[b]
        if ia != ib and pa & pb:
            pairs.append(Pair(ia, ka, ib, kb))
    return pairs


def keypoint(mask: np.ndarray) -> np.ndarray:
    """The mask pixel nearest to the mask's centroid, as ``(x, y)`` pixel centre."""
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    j = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return np.array([xs[j] + 0.5, ys[j] + 0.5], dtype=np.float32)


def pixel_features(patch: int = 8) -> FeatureFn:
    """Raw-pixel baseline: each ``patch x patch`` cell's normalised RGB values as its feature."""

    def fn(images: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        x = torch.as_tensor(images).float().permute(0, 3, 1, 2) / 255.0 - 0.5
        b, c, h, w = x.shape
        cells = x.unfold(2, patch, patch).unfold(3, patch, patch)  # B C gh gw p p
        gh, gw = cells.shape[2], cells.shape[3]
        return cells.permute(0, 2, 3, 1, 4, 5).reshape(b, gh * gw, -1), (gh, gw)

    return fn


def encoder_features(encoder) -> FeatureFn:
    """Features of a :class:`~mereo.tools.correspond.encoder.DenseEncoder` (or anything with
    ``encode_batch`` and ``grid``)."""

    def fn(images: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        return encoder.encode_batch(images), encoder.grid

    return fn


def backend_features(name: str, device: str = "auto") -> FeatureFn:
    """Features of a registered correspond backend with a ``features(image)`` method (e.g.
    ``synthparts-cnn``), one image at a time through its own cache."""
    from mereo.cache import FeatureCache
    from mereo.tools import correspond
    from mereo.tools.base import ToolContext
    from mereo.types import ImageRef

    backend = correspond.build(name, ToolContext(FeatureCache(max_items=4096), device=device))

    def fn(images: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        feats = [backend.features(ImageRef(im)) for im in images]
        return torch.stack([f.tokens for f in feats]), feats[0].grid

    return fn


def evaluate_pairs(
    features: FeatureFn,
    data: SceneArrays,
    pairs: list[Pair],
    batch: int = 32,
    temperature: float = 0.02,
    desc: str = "eval",
) -> dict[str, Any]:
    """Part-matching accuracy and PCK@0.1 / PCK@0.2 of a feature function on object pairs."""
    needed = sorted({p.ia for p in pairs} | {p.ib for p in pairs})
    feats: dict[int, torch.Tensor] = {}
    grid = (0, 0)
    for s in tqdm(range(0, len(needed), batch), desc=f"{desc}: features", leave=False):
        idx = needed[s : s + batch]
        toks, grid = features(data.images[idx])
        feats.update({i: t for i, t in zip(idx, toks, strict=True)})
    h, w = data.images.shape[1:3]
    match_ok = match_n = 0
    same: list[float] = []
    pck = {0.1: 0, 0.2: 0}
    pck_n = 0
    for p in pairs:
        parts_a, parts_b = data.object_parts(p.ia, p.ka), data.object_parts(p.ib, p.kb)
        la, lb = sorted(parts_a), sorted(parts_b)
        sim = cosine_matrix(
            part_descriptors(feats[p.ia], [parts_a[x] for x in la], grid),
            part_descriptors(feats[p.ib], [parts_b[x] for x in lb], grid),
        )
        others_b = {lab for k, _ in data.objects(p.ib) if k != p.kb for lab in data.object_parts(p.ib, k)}
        ys, xs = np.nonzero(data.object_mask(p.ib, p.kb))
        scale = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        for r, lab in enumerate(la):
            if lab not in parts_b:
                continue
            match_n += 1
            match_ok += int(lb[int(sim[r].argmax())] == lab)
            same.append(float(sim[r, lb.index(lab)]))
            if lab in others_b:
                continue
            src = torch.as_tensor(keypoint(parts_a[lab]))[None]
            dst = transfer_points(feats[p.ia], grid, (h, w), src, feats[p.ib], grid, (h, w), temperature)[0]
            err = float(np.linalg.norm(dst.numpy() - keypoint(parts_b[lab])))
            pck_n += 1
            for a in pck:
                pck[a] += int(err <= a * scale)
    return {
        "part_match_acc": match_ok / max(1, match_n),
        "pck@0.1": pck[0.1] / max(1, pck_n),
        "pck@0.2": pck[0.2] / max(1, pck_n),
        "n_parts": float(match_n),
        "n_points": float(pck_n),
        "same_label_similarity": same,
    }


def format_table(rows: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: one row per feature function."""
    cols = ["part_match_acc", "pck@0.1", "pck@0.2"]
    lines = [f"{'features':<16}" + "".join(f"{c:>16}" for c in cols)]
    for name, m in rows.items():
        lines.append(f"{name:<16}" + "".join(f"{100 * m[c]:>15.1f}%" for c in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mereo eval correspond", description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", help="SynthParts split (test or novel)")
    parser.add_argument("--n-images", type=int, default=300, help="scenes rendered for the pairs")
    parser.add_argument("--n-pairs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-clip", action="store_true", help="also evaluate clip-patches features")
    parser.add_argument(
        "--backends",
        default="",
        help="also evaluate these correspond backends (comma-separated, e.g. synthparts-cnn)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--calibrate",
        type=float,
        default=None,
        metavar="Q",
        help="pick the agent's threshold as the Q quantile of same-label similarities",
    )
    parser.add_argument(
        "--write-threshold",
        action="store_true",
        help="with --calibrate: store the threshold in the dinov2-small manifest",
    )
    args = parser.parse_args(argv)
    if args.write_threshold and args.calibrate is None:
        parser.error("--write-threshold needs --calibrate Q")

    from mereo.tools.correspond.encoder import DenseEncoder, build_model, load_small

    torch.set_num_threads(min(2, torch.get_num_threads()))
    data = load_split(args.split, args.n_images, seed=args.seed)
    pairs = sample_pairs(data, args.n_pairs, seed=args.seed)
    torch.manual_seed(args.seed)
    fns: dict[str, FeatureFn] = {
        "dinov2-small": encoder_features(load_small(args.device)),
        "random-init": encoder_features(DenseEncoder(build_model(), device=args.device)),
        "raw-pixels": pixel_features(8),
    }
    for name in [b for b in args.backends.split(",") if b]:
        fns[name] = backend_features(name, args.device)
    if args.with_clip:
        from mereo.tools.recognize.model import load_small as load_clip

        clip = load_clip(args.device)
        fns["clip-patches"] = lambda ims: (clip.patch_tokens_batch(ims), clip.grid)
    rows = {}
    t0 = time.perf_counter()
    for name, fn in fns.items():
        rows[name] = evaluate_pairs(fn, data, pairs, desc=name)
    print(
        f"SynthParts {args.split}: {len(pairs)} object pairs, {int(rows['raw-pixels']['n_parts'])} shared "
        f"parts, {int(rows['raw-pixels']['n_points'])} keypoints ({time.perf_counter() - t0:.1f} s)"
    )
    print(format_table(rows))
    if args.calibrate is not None:
        calibrate(rows["dinov2-small"]["same_label_similarity"], args)
    return 0


#: Default quantile of same-label similarities used as the agent's threshold.
CALIBRATION_QUANTILE = 0.02


def threshold_entry(
    same: list[float], quantile: float = CALIBRATION_QUANTILE, **source: Any
) -> dict[str, Any]:
    """The manifest's ``match_threshold`` record: the ``quantile`` of same-label similarities."""
    if not same:
        raise ValueError("no same-label part pairs to calibrate on")
    return {
        "value": round(float(np.quantile(np.asarray(same), quantile)), 3),
        "quantile": quantile,
        "same_label_pairs": len(same),
        **source,
    }


def calibrate(same: list[float], args: argparse.Namespace) -> float:
    """Print the same-label similarity quantiles and the threshold; store it when asked."""
    from mereo.checkpoints import update_manifest
    from mereo.tools.correspond.encoder import CHECKPOINT_NAME

    if not same:
        raise SystemExit("no shared parts in the sampled pairs: raise --n-pairs")
    q = np.quantile(np.asarray(same), [0.01, 0.02, 0.05, 0.1, 0.25, 0.5])
    print(
        "dinov2-small same-label similarity quantiles: "
        + ", ".join(f"{k}%={v:.3f}" for k, v in zip((1, 2, 5, 10, 25, 50), q, strict=True))
    )
    command = (
        f"mereo eval correspond --split {args.split} --n-images {args.n_images} "
        f"--n-pairs {args.n_pairs} --calibrate {args.calibrate} --write-threshold"
    )
    entry = threshold_entry(
        same, args.calibrate, split=args.split, images=args.n_images, pairs=args.n_pairs, command=command
    )
    print(
        f"threshold (quantile {args.calibrate} of {len(same)} same-label pairs, {args.split}): "
        f"{entry['value']}"
    )
    if args.write_threshold:
        update_manifest(CHECKPOINT_NAME, {"match_threshold": entry})
        print(f"wrote match_threshold {entry['value']} into the {CHECKPOINT_NAME} manifest")
    return float(entry["value"])
