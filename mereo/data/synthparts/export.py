"""Write SynthParts in the reference formats of ``shared/METRICS.md``.

``export(out_dir, split, n, seed)`` writes, with every path relative to ``out_dir``:

- ``images/<uid>.png``: the RGB images;
- ``coco_parts.json``: COCO instance JSON; object categories (``chair``) and part categories
  (``chair:leg``, supercategory the object) and one annotation per visible object and per visible
  part instance (RLE), part annotations linked to their object by ``obj_ann_id``;
- ``partonomy.json``: Partonomy-Core QA records (``positive`` / ``negative`` for intersection /
  difference), plus the extra keys ``id``, ``gold_plan``, ``other_object``;
- ``mixedparts.json``: MixedParts pair samples (``img_ids`` are ``coco_parts.json`` image ids), plus
  the extra keys ``id``, ``task``, ``gold_plan``;
- ``multistep.jsonl``: one :class:`~mereo.data.items.QAItem` JSON per line (no reference format
  exists for multi-step questions).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from mereo.data.items import QAItem
from mereo.data.synthparts.compose import generate_scenes
from mereo.data.synthparts.phrasing import article
from mereo.data.synthparts.questions import make_questions
from mereo.data.synthparts.scene import Scene
from mereo.data.synthparts.templates import CATEGORIES
from mereo.types import Mask

#: Partonomy-Core's names of our question types.
PARTONOMY_TYPE_NAMES = {"intersection": "positive", "difference": "negative"}


def image_path(scene: Scene) -> str:
    """Path of a scene's PNG relative to the export folder."""
    return f"images/{scene.uid}.png"


def _same_pixels(path: Path, image: np.ndarray) -> bool:
    try:
        with Image.open(path) as im:
            return np.array_equal(np.asarray(im.convert("RGB")), image)
    except OSError:
        return False


def write_images(scenes: Sequence[Scene], out_dir: str | Path, *, overwrite: bool = True) -> list[str]:
    """Save each scene as ``out_dir/images/<uid>.png``; returns the relative paths.

    With ``overwrite=False`` a file that already holds the same pixels is kept (a stale file from
    another generator version is replaced). Writes go through a per-process temp file, so
    concurrent writers never see a half-written PNG.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    paths = []
    for s in scenes:
        rel = image_path(s)
        target = out / rel
        if overwrite or not target.exists() or not _same_pixels(target, s.image):
            tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.png")
            Image.fromarray(s.image).save(tmp, optimize=False, compress_level=1)
            os.replace(tmp, target)
        paths.append(rel)
    return paths


def coco_categories() -> list[dict[str, Any]]:
    """Object categories then ``object:part`` categories, with stable ids (objects first)."""
    cats: list[dict[str, Any]] = []
    for name, t in CATEGORIES.items():
        cats.append({"id": len(cats) + 1, "name": name, "supercategory": t.supercategory})
    for name, t in CATEGORIES.items():
        for p in t.parts:
            cats.append({"id": len(cats) + 1, "name": f"{name}:{p}", "supercategory": name})
    return cats


def coco_json(scenes: Sequence[Scene], paths: Sequence[str]) -> dict[str, Any]:
    """COCO instance JSON of ``scenes`` (image ids are positions in ``scenes``)."""
    cat_ids = {c["name"]: c["id"] for c in coco_categories()}
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for image_id, (s, path) in enumerate(zip(scenes, paths, strict=True)):
        h, w = s.image.shape[:2]
        images.append({"id": image_id, "file_name": path, "width": w, "height": h, "synthparts_uid": s.uid})
        for obj in s.objects:
            obj_id = len(anns) + 1
            anns.append(_ann(obj_id, image_id, cat_ids[obj.category], Mask.from_numpy(obj.mask)))
            for part in obj.parts:
                if part.visible:
                    ann = _ann(
                        len(anns) + 1,
                        image_id,
                        cat_ids[f"{obj.category}:{part.label}"],
                        Mask.from_numpy(part.mask),
                    )
                    ann["obj_ann_id"] = obj_id
                    anns.append(ann)
    return {
        "info": {"description": "SynthParts (Mereo)", "version": "1"},
        "images": images,
        "annotations": anns,
        "categories": coco_categories(),
    }


def _ann(ann_id: int, image_id: int, cat_id: int, mask: Mask) -> dict[str, Any]:
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": cat_id,
        "segmentation": mask.to_coco(),
        "area": mask.area,
        "bbox": list(mask.bbox()),
        "iscrowd": 0,
    }


def _first_object(expr: dict[str, Any]) -> str | None:
    """The object of the first ``parts`` node of a set expression."""
    if expr.get("op") == "parts":
        return str(expr["object"])
    for arg in expr.get("args", []):
        found = _first_object(arg)
        if found:
            return found
    return None


def partonomy_record(item: QAItem) -> dict[str, Any]:
    """One Partonomy-Core record from a single-image item."""
    img = item.images[0]
    returns_objects = item.question_type == "part_to_whole"
    if returns_objects:
        obj = None
        segs = {p.label: [p.mask.to_coco()] for p in img.parts if p.kind == "object"}
    else:
        obj = _first_object(item.gold_plan["expr"]) if item.gold_plan else None
        obj = obj or (img.objects()[0] if img.objects() else None)
        segs = {p.label: [p.mask.to_coco()] for p in img.parts if p.kind == "part" and p.object == obj}
    rec: dict[str, Any] = {
        "image_path": img.path,
        "image_label": obj if obj else ", ".join(item.gold_labels),
        "question": item.question,
        "question_type": PARTONOMY_TYPE_NAMES.get(item.question_type, item.question_type),
        "answer_choices": item.answer_choices,
        "answer_types": item.answer_types,
        "answer_parts": item.answer_parts,
        "segmentations": segs,
        "object_question": None,
        "object_answer_choices": None,
        "id": item.id,
        "gold_plan": item.gold_plan,
        "other_object": item.other_object,
    }
    if item.question_type == "whole_to_part" and obj:
        rec["object_question"] = "What is the object in the image?"
        rng = np.random.default_rng(zlib.crc32(item.id.encode()))
        others = [str(c) for c in rng.choice([c for c in CATEGORIES if c != obj], 4, replace=False)]
        names = [obj, *others]
        rng.shuffle(names)
        rec["object_answer_choices"] = [f"It is {article(c)}." for c in names]
        rec["object_answer_types"] = ["correct" if c == obj else "incorrect" for c in names]
    return rec


def mixedparts_sample(
    item: QAItem, image_ids: dict[str, int], ann_ids: dict[tuple[int, str], int]
) -> dict[str, Any]:
    """One MixedParts sample from a pair item (``image_ids``: path -> COCO image id)."""
    ids = [image_ids[im.path] for im in item.images]
    groundings: dict[str, list[dict[str, Any]]] = {"img_1": [], "img_2": []}
    spans = []
    for m in item.gold_masks:
        key = f"img_{m.image_index + 1}"
        obj_ann = ann_ids.get((ids[m.image_index], m.object or ""), None)
        groundings[key].append({"name": m.label, "segmentation": m.mask.to_coco(), "obj_ann_id": obj_ann})
        spans.append(f"<p> the {m.label} </p> [SEG] (IMAGE{m.image_index + 1})")
    what = {
        "common_objects": "common objects",
        "common_parts": "common parts",
        "unique_parts": "unique parts",
    }[item.question_type]
    return {
        "dataset_name": "synthparts",
        "img_ids": ids,
        "q": item.question,
        "a": f"The {what} are " + (", ".join(spans) if spans else "none") + ".",
        "groundings": groundings,
        "id": item.id,
        "task": item.question_type,
        "gold_plan": item.gold_plan,
    }


def export(
    out_dir: str | Path,
    split: str,
    n: int,
    seed: int = 0,
    *,
    size: int = 128,
    per_image: int = 1,
    workers: int = 1,
) -> dict[str, int]:
    """Generate ``n`` images of ``split`` and write every file listed in the module docstring.

    Returns:
        counts: ``{"images": ..., "partonomy": ..., "pairs": ..., "multistep": ..., "annotations": ...}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scenes = list(
        tqdm(generate_scenes(split, n, seed, size, workers=workers), total=n, desc="render", disable=n < 200)
    )
    paths = write_images(scenes, out)
    coco = coco_json(scenes, paths)
    _write_json(out / "coco_parts.json", coco)
    image_ids = {p: i for i, p in enumerate(paths)}
    ann_ids = {
        (a["image_id"], coco["categories"][a["category_id"] - 1]["name"]): a["id"]
        for a in coco["annotations"]
        if "obj_ann_id" not in a
    }
    counts = {"images": len(scenes), "annotations": len(coco["annotations"])}
    single = make_questions(scenes, "partonomy", seed=seed, per_image=per_image, paths=paths)
    _write_json(out / "partonomy.json", [partonomy_record(it) for it in single])
    pairs = make_questions(scenes, "pairs", seed=seed, per_image=per_image, paths=paths)
    _write_json(out / "mixedparts.json", [mixedparts_sample(it, image_ids, ann_ids) for it in pairs])
    multi = make_questions(scenes, "multistep", seed=seed, per_image=per_image, paths=paths)
    with open(out / "multistep.jsonl", "w") as f:
        for it in multi:
            f.write(it.model_dump_json() + "\n")
    counts.update(partonomy=len(single), pairs=len(pairs), multistep=len(multi))
    _write_json(
        out / "manifest.json",
        {
            "generator": "synthparts",
            "split": split,
            "n": n,
            "seed": seed,
            "size": size,
            "per_image": per_image,
            "counts": counts,
        },
    )
    return counts


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)
