"""A datasheet of an exported SynthParts folder: counts and a picture grid with mask overlays."""

from __future__ import annotations

import colorsys
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mereo.data.items import GoldImage
from mereo.errors import DatasetError


def _load(folder: Path) -> tuple[list[GoldImage], dict[str, list[dict[str, Any]]]]:
    from mereo.data.datasets import load_coco_parts

    coco = folder / "coco_parts.json"
    if not coco.is_file():
        raise DatasetError(
            f"{folder} has no coco_parts.json; make one with `mereo data synthparts --out {folder}`"
        )
    questions: dict[str, list[dict[str, Any]]] = {}
    for name in ("partonomy.json", "mixedparts.json"):
        if (folder / name).is_file():
            questions[name] = json.loads((folder / name).read_text())
    if (folder / "multistep.jsonl").is_file():
        lines = (folder / "multistep.jsonl").read_text().splitlines()
        questions["multistep.jsonl"] = [json.loads(x) for x in lines if x.strip()]
    return load_coco_parts(coco), questions


def counts(folder: str | Path) -> dict[str, Counter[str]]:
    """Counts per object category, per ``object:part``, per part, per question type and objects per image."""
    images, questions = _load(Path(folder))
    out: dict[str, Counter[str]] = {
        k: Counter() for k in ("objects", "parts", "object_parts", "questions", "objects_per_image")
    }
    for g in images:
        objs = [p for p in g.parts if p.kind == "object"]
        out["objects_per_image"][str(len(objs))] += 1
        out["objects"].update(p.label for p in objs)
        for p in g.parts:
            if p.kind == "part":
                out["parts"][p.label] += 1
                out["object_parts"][f"{p.object}:{p.label}"] += 1
    for rec in questions.get("partonomy.json", []):
        out["questions"][f"partonomy/{rec['question_type']}"] += 1
    for rec in questions.get("mixedparts.json", []):
        out["questions"][f"pairs/{rec.get('task', 'unknown')}"] += 1
    for rec in questions.get("multistep.jsonl", []):
        kind = (rec.get("gold_plan") or {}).get("composition", "multistep")
        out["questions"][f"multistep/{kind}"] += 1
    return out


def _colour(i: int) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.9, 1.0)
    return np.array([r, g, b]) * 255


def overlay(image: np.ndarray, gold: GoldImage, alpha: float = 0.55) -> np.ndarray:
    """The image with each part mask tinted in its own colour (``H x W x 3`` uint8)."""
    out = image.astype(np.float32).copy()
    for i, p in enumerate(m for m in gold.parts if m.kind == "part"):
        mask = p.mask.to_numpy()
        out[mask] = (1 - alpha) * out[mask] + alpha * _colour(i)
    return out.clip(0, 255).astype(np.uint8)


def grid(folder: str | Path, out_path: str | Path, n: int = 16, cols: int = 4, scale: int = 2) -> Path:
    """Write a grid of ``n`` examples: each image beside its part-mask overlay."""
    images, _ = _load(Path(folder))
    tiles = []
    for g in images[:n]:
        img = np.asarray(Image.open(g.path).convert("RGB"))
        tiles.append(np.concatenate([img, overlay(img, g)], axis=1))
    if not tiles:
        raise DatasetError(f"{folder} holds no images")
    h, w = tiles[0].shape[:2]
    tiles += [np.zeros((h, w, 3), np.uint8)] * (-len(tiles) % cols)
    rows = [np.concatenate(tiles[r : r + cols], axis=1) for r in range(0, len(tiles), cols)]
    pic = Image.fromarray(np.concatenate(rows, axis=0))
    pic = pic.resize((pic.width * scale, pic.height * scale), Image.Resampling.NEAREST)
    out = Path(out_path)
    pic.save(out)
    return out


def report(folder: str | Path, top: int = 12) -> str:
    """A printable summary of :func:`counts`."""
    c = counts(folder)
    lines = [
        f"SynthParts datasheet for {folder}",
        f"images: {sum(c['objects_per_image'].values())}; objects per image: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(c["objects_per_image"].items())),
        f"object instances: {sum(c['objects'].values())} in {len(c['objects'])} categories",
    ]
    for key, title in (
        ("objects", "per category"),
        ("parts", "per part (object-part masks)"),
        ("questions", "per question type"),
    ):
        items = c[key].most_common() if key == "questions" else c[key].most_common(top)
        more = "" if key == "questions" or len(c[key]) <= top else f" (+{len(c[key]) - top} more)"
        lines.append(f"{title}{more}: " + ", ".join(f"{k} {v}" for k, v in items))
    return "\n".join(lines)
