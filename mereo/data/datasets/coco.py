"""COCO instance JSON whose categories are objects (``chair``) and parts (``chair:leg``).

Names are put in canonical form (:func:`mereo.knowledge.canonical`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mereo.data.datasets.common import (
    mask as _mask,
)
from mereo.data.datasets.common import (
    read_json as _read_json,
)
from mereo.data.datasets.common import (
    resolve as _resolve,
)
from mereo.data.datasets.common import (
    union as _union,
)
from mereo.data.items import GoldImage
from mereo.errors import DatasetError
from mereo.knowledge import canonical
from mereo.types import Mask, PartMask


def split_category(name: str, supercategory: str | None) -> tuple[str | None, str]:
    """``"chair:leg"`` -> ``("chair", "leg")``; ``"chair"`` -> ``(None, "chair")``."""
    if ":" in name:
        obj, part = name.split(":", 1)
        return canonical(obj), canonical(part)
    return None, canonical(name)


def load_coco_parts(path: str | Path, images_root: str | Path | None = None) -> list[GoldImage]:
    """Load COCO instance JSON whose categories are objects (``chair``) and parts (``chair:leg``).

    One :class:`GoldImage` per image: a ``kind="object"`` mask per object annotation and a
    ``kind="part"`` mask per part label per object (instances unioned). A part annotation belongs to
    the object annotation named by its ``obj_ann_id`` when it has one, else to all parts of that
    object category in the image.

    Args:
        path: the COCO JSON file.
        images_root: folder that ``file_name`` is relative to (default: the file's folder).
    """
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise DatasetError(f"{path} is not COCO instance JSON (needs images, annotations, categories)")
    base = Path(images_root) if images_root is not None else path.parent
    cats = {c["id"]: split_category(str(c["name"]), c.get("supercategory")) for c in data["categories"]}
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for a in data["annotations"]:
        if a.get("category_id") not in cats:
            raise DatasetError(
                f"{path}: annotation {a.get('id')} has unknown category_id {a.get('category_id')}"
            )
        by_image.setdefault(a["image_id"], []).append(a)
    out = []
    for img in data["images"]:
        h, w = int(img["height"]), int(img["width"])
        anns = by_image.get(img["id"], [])
        where = f"{path} image {img['id']}"
        objects: dict[Any, str] = {}
        parts: list[PartMask] = []
        for a in anns:
            obj, label = cats[a["category_id"]]
            if obj is None:
                objects[a["id"]] = label
                parts.append(
                    PartMask(
                        label=label,
                        object=label,
                        image_index=0,
                        score=1.0,
                        source="gold",
                        kind="object",
                        mask=_mask(a["segmentation"], h, w, where),
                    )
                )
        grouped: dict[tuple[Any, str, str], list[Mask]] = {}
        for a in anns:
            obj, label = cats[a["category_id"]]
            if obj is not None:
                owner = a.get("obj_ann_id") if a.get("obj_ann_id") in objects else obj
                grouped.setdefault((owner, obj, label), []).append(_mask(a["segmentation"], h, w, where))
        for (_, obj, label), ms in grouped.items():
            parts.append(
                PartMask(
                    label=label,
                    object=obj,
                    image_index=0,
                    score=1.0,
                    source="gold",
                    kind="part",
                    mask=_union(ms),
                )
            )
        out.append(
            GoldImage(
                path=_resolve(str(img["file_name"]), base), width=w, height=h, parts=parts, image_id=img["id"]
            )
        )
    return out
