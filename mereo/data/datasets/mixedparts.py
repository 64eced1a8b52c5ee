"""MixedParts pair samples (Calico's benchmark): two images, a task, gold groundings per image.

Names are put in canonical form (:func:`mereo.knowledge.canonical`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from mereo.data.datasets.coco import load_coco_parts, split_category
from mereo.data.datasets.common import (
    image_size as _image_size,
)
from mereo.data.datasets.common import (
    mask as _mask,
)
from mereo.data.datasets.common import (
    read_json as _read_json,
)
from mereo.data.datasets.common import (
    records as _records,
)
from mereo.data.datasets.common import (
    union as _union,
)
from mereo.data.items import GoldImage, QAItem
from mereo.errors import DatasetError
from mereo.knowledge import canonical
from mereo.types import Mask, PartMask

PAIR_TASKS = ("common_objects", "common_parts", "unique_parts")


class _ImageIndex:
    """Finds a MixedParts ``img_id``'s file: via a COCO JSON, or by file name in a folder."""

    def __init__(self, images_root: str | Path):
        root = Path(images_root)
        self.coco: dict[Any, GoldImage] = {}
        self.files: dict[str, Path] = {}
        if root.is_file():
            self.coco = {g.image_id: g for g in load_coco_parts(root)}
        elif root.is_dir():
            for f in sorted(root.rglob("*")):
                if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp"):
                    self.files.setdefault(f.stem, f)
                    if f.stem.isdigit():
                        self.files.setdefault(str(int(f.stem)), f)
        else:
            raise DatasetError(f"images_root {root} is neither a folder of images nor a COCO JSON file")

    def image(self, img_id: Any) -> GoldImage:
        if img_id in self.coco:
            return self.coco[img_id].model_copy(deep=True)
        f = self.files.get(str(img_id))
        if f is None and str(img_id).isdigit():
            f = self.files.get(str(int(img_id)))
        if f is None:
            raise DatasetError(
                f"no image file for img_id {img_id!r}; images_root must hold it (named by its "
                "id) or be the source dataset's COCO JSON"
            )
        h, w = _image_size(f)
        return GoldImage(path=str(f), width=w, height=h, image_id=img_id)


def _task(sample: dict[str, Any]) -> str:
    if sample.get("task") in PAIR_TASKS:
        return str(sample["task"])
    text = f"{sample.get('q', '')} {sample.get('a', '')}".lower()
    if "common object" in text:
        return "common_objects"
    if "unique part" in text or "unique" in text:
        return "unique_parts"
    return "common_parts"


def load_mixedparts(path: str | Path, images_root: str | Path) -> list[QAItem]:
    """Load MixedParts pair samples.

    Args:
        path: the samples file (JSON list).
        images_root: a folder holding each ``img_id``'s image (file named by the id, e.g.
            ``000000123456.jpg``), or the source dataset's COCO JSON (its ``file_name``s are used and
            its annotations fill each image's gold masks; a SynthParts export's ``coco_parts.json``).
    """
    path = Path(path)
    index = _ImageIndex(images_root)
    items = []
    for k, s in enumerate(_records(_read_json(path), path, "MixedParts")):
        where = f"{path} sample {k}"
        if "img_ids" not in s or "groundings" not in s or len(s["img_ids"]) != 2:
            raise DatasetError(f"{where} needs img_ids (two ids) and groundings; is this a MixedParts file?")
        images = [index.image(i) for i in s["img_ids"]]
        task = _task(s)
        kind = "object" if task == "common_objects" else "part"
        ann_objects = _ann_objects(images_root)
        grouped: dict[tuple[int, str, str | None], list[Mask]] = {}
        for i, im in enumerate(images):
            for g in s["groundings"].get(f"img_{i + 1}", []):
                obj, label = split_category(str(g.get("name", "")), None)
                obj = obj or ann_objects.get(g.get("obj_ann_id"))
                mask = _mask(g["segmentation"], im.height, im.width, f"{where} grounding {g.get('name')!r}")
                grouped.setdefault((i, label, label if kind == "object" else obj), []).append(mask)
        gold = [
            PartMask(
                label=label, object=obj, image_index=i, mask=_union(ms), score=1.0, source="gold", kind=kind
            )
            for (i, label, obj), ms in grouped.items()
        ]
        for i, im in enumerate(images):
            im.parts = [p.model_copy(update={"image_index": i}) for p in im.parts] or [
                m for m in gold if m.image_index == i
            ]
        items.append(
            QAItem(
                id=str(s.get("id") or f"mixedparts-{k}"),
                suite="pairs",
                question_type=task,
                question=str(s.get("q", "")),
                images=images,
                gold_labels=sorted({m.label for m in gold}),
                gold_masks=gold,
                gold_plan=s.get("gold_plan") or _pair_plan(task, gold),
                source=str(s.get("dataset_name") or "mixedparts"),
            )
        )
    return items


@lru_cache(maxsize=8)
def _ann_objects_cached(path: str) -> dict[Any, str]:
    data = _read_json(path)
    cats = {c["id"]: str(c["name"]) for c in data.get("categories", [])}
    return {
        a["id"]: canonical(cats[a["category_id"]])
        for a in data.get("annotations", [])
        if ":" not in cats.get(a["category_id"], ":")
    }


def _ann_objects(images_root: str | Path) -> dict[Any, str]:
    """Object annotation id -> object name, when ``images_root`` is a COCO JSON."""
    p = Path(images_root)
    return _ann_objects_cached(str(p.resolve())) if p.is_file() else {}


def _pair_plan(task: str, gold: list[PartMask]) -> dict[str, Any] | None:
    if task == "common_objects":
        return {"expr": {"op": "common_objects", "images": [0, 1]}, "returns": "objects"}
    objs = [{m.object for m in gold if m.image_index == i} - {None} for i in (0, 1)]
    if not all(len(o) == 1 for o in objs):
        return None
    name = "intersect" if task == "common_parts" else "symmetric_difference"
    args = [{"op": "parts", "object": next(iter(objs[i])), "image": i} for i in (0, 1)]
    return {"expr": {"op": name, "args": args}, "returns": "parts"}
