"""Dataset loaders: real Partonomy-Core, MixedParts and COCO-style part files, and SynthParts.

Every loader returns :class:`~mereo.data.items.QAItem` (or :class:`GoldImage` for plain COCO
annotations), so the same evals run on real and generated data. Formats are those of
``shared/METRICS.md``; segmentations may be COCO polygons or RLE (compressed or not). Part and
object names are lower-cased and put in the knowledge base's canonical singular form
(``"wings"`` -> ``"wing"``), so they compare with the agent's names.

Example:
    >>> items = load_synthparts("test", 20, seed=0, suite="pairs")  # doctest: +SKIP
    >>> items = load_partonomy("partonomy_core/test.json")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from mereo.data.items import GoldImage, QAItem
from mereo.errors import DatasetError
from mereo.types import Mask, PartMask

#: Partonomy-Core question types -> ours.
PARTONOMY_TYPES = {
    "identification": "identification",
    "positive": "intersection",
    "intersection": "intersection",
    "negative": "difference",
    "difference": "difference",
    "part_to_whole": "part_to_whole",
    "whole_to_part": "whole_to_part",
}
PAIR_TASKS = ("common_objects", "common_parts", "unique_parts")


@lru_cache(maxsize=4096)
def canon(name: str) -> str:
    """Lower-case, trimmed, singular canonical name (via the knowledge base when available)."""
    text = re.sub(r"^(the|a|an)\s+", "", str(name).strip().lower()).replace("_", " ")
    try:
        from mereo.knowledge import canonical
    except ImportError:  # pragma: no cover
        return text
    return canonical(text) or text


def _read_json(path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"dataset file not found: {p}")
    try:
        if p.suffix == ".jsonl":
            return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{p} is not valid JSON ({e}); pass the dataset's .json file") from e


def _records(data: Any, path: str | Path, what: str) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("data", "samples", "questions", "annotations"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            if data and all(isinstance(v, dict) for v in data.values()):  # {id: record}
                data = [{"id": k, **v} for k, v in data.items()]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DatasetError(f"{path} is not a {what} file: expected a JSON list of records")
    return data


def _image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the image file header."""
    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read image {path} to learn its size ({e}); check images_root") from e


def _mask(seg: Any, height: int | None, width: int | None, where: str) -> Mask:
    try:
        if isinstance(seg, dict) and (height is None or width is None):
            return Mask.from_rle(seg)
        if height is None or width is None:
            raise DatasetError(f"{where}: polygon segmentation without a known image size")
        return Mask.from_coco(seg, height, width)
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{where}: unusable segmentation ({e})") from e


def _union(masks: list[Mask]) -> Mask:
    return masks[0] if len(masks) == 1 else Mask.union(masks)


def _resolve(path: str, base: Path) -> str:
    p = Path(path)
    return str(p if p.is_absolute() else (base / p))


# -- Partonomy-Core ------------------------------------------------------------------------------------

_OTHER = re.compile(
    r"(?:in common with|which|that)\s+(?:an?\s+)?([a-z][a-z \-]*?)\s*"
    r"(?:does not have|doesn't have|lacks)?\?",
    re.IGNORECASE,
)
_PART = re.compile(r"\bhas\s+(?:an?\s+)?([a-z][a-z \-]*?)\?", re.IGNORECASE)


def _choice_labels(text: str) -> list[str]:
    tail = text.split(":", 1)[-1].strip().rstrip(".")
    return [canon(x) for x in re.split(r",\s*(?:and\s+)?|\s+and\s+", tail) if x.strip()]


def _partonomy_plan(qtype: str, obj: str | None, question: str) -> dict[str, Any] | None:
    if qtype == "whole_to_part":
        return {"expr": {"op": "whole_to_part", "image": 0}, "returns": "parts"}
    if qtype == "part_to_whole":
        m = _PART.search(question)
        return (
            {"expr": {"op": "part_to_whole", "part": canon(m.group(1)), "images": [0]}, "returns": "objects"}
            if m
            else None
        )
    if obj is None:
        return None
    own = {"op": "parts", "object": obj, "image": 0}
    if qtype == "identification":
        return {"expr": own, "returns": "parts"}
    m = _OTHER.search(question)
    if not m:
        return None
    name = "intersect" if qtype == "intersection" else "difference"
    return {
        "expr": {"op": name, "args": [own, {"op": "kb_parts", "object": canon(m.group(1))}]},
        "returns": "parts",
    }


def load_partonomy(path: str | Path, images_root: str | Path | None = None) -> list[QAItem]:
    """Load Partonomy-Core QA records (a JSON list, or JSON lines).

    Args:
        path: the records file.
        images_root: folder that ``image_path`` is relative to (default: the file's folder).

    Raises:
        DatasetError: missing file, not the expected records, unknown question type, bad masks.
    """
    path = Path(path)
    base = Path(images_root) if images_root is not None else path.parent
    items = []
    for k, rec in enumerate(_records(_read_json(path), path, "Partonomy-Core")):
        where = f"{path} record {k}"
        required = ("image_path", "question", "question_type", "answer_choices")
        missing = [key for key in required if key not in rec]
        if missing:
            raise DatasetError(f"{where} lacks {', '.join(missing)}; is this a Partonomy-Core file?")
        qtype = PARTONOMY_TYPES.get(str(rec["question_type"]).lower())
        if qtype is None:
            raise DatasetError(
                f"{where}: unknown question_type {rec['question_type']!r}; expected one of "
                f"{', '.join(sorted(PARTONOMY_TYPES))}"
            )
        types = list(rec.get("answer_types") or [])
        choices = list(rec["answer_choices"])
        if "correct" not in types:
            raise DatasetError(f"{where}: answer_types has no 'correct' entry")
        ci = types.index("correct")
        answer_parts = [[canon(x) for x in ps] for ps in rec.get("answer_parts") or []]
        gold = answer_parts[ci] if answer_parts else _choice_labels(choices[ci])
        image_path = _resolve(str(rec["image_path"]), base)
        segs: dict[str, list[Any]] = rec.get("segmentations") or {}
        size = _seg_size(segs) or _image_size(Path(image_path))
        objects = qtype == "part_to_whole"
        label = rec.get("image_label")
        obj = None if objects or not label else canon(str(label))
        masks = []
        for name, seg_list in segs.items():
            if not (isinstance(seg_list, list) and seg_list and not _is_polygon(seg_list)):
                seg_list = [seg_list]
            ms = [_mask(s, size[0], size[1], f"{where} segmentation {name!r}") for s in seg_list]
            lab = canon(name)
            masks.append(
                PartMask(
                    label=lab,
                    object=lab if objects else obj,
                    image_index=0,
                    mask=_union(ms),
                    score=1.0,
                    source="gold",
                    kind="object" if objects else "part",
                )
            )
        image = GoldImage(
            path=image_path, width=size[1], height=size[0], parts=masks, image_id=rec.get("image_id")
        )
        items.append(
            QAItem(
                id=str(rec.get("id") or f"partonomy-{k}"),
                suite="partonomy",
                question_type=qtype,
                question=str(rec["question"]),
                images=[image],
                answer_choices=choices,
                answer_types=types,
                answer_parts=answer_parts,
                gold_labels=sorted(set(gold)),
                gold_masks=[m for m in masks if m.label in set(gold)],
                gold_plan=rec.get("gold_plan") or _partonomy_plan(qtype, obj, str(rec["question"])),
                other_object=rec.get("other_object") or _other_from(qtype, str(rec["question"])),
                source="synthparts" if "gold_plan" in rec else "partonomy-core",
            )
        )
    return items


def _other_from(qtype: str, question: str) -> str | None:
    if qtype not in ("intersection", "difference"):
        return None
    m = _OTHER.search(question)
    return canon(m.group(1)) if m else None


def _is_polygon(seg: Any) -> bool:
    return isinstance(seg, list) and bool(seg) and isinstance(seg[0], (int, float))


def _seg_size(segs: dict[str, Any]) -> tuple[int, int] | None:
    for seg_list in segs.values():
        for s in seg_list if isinstance(seg_list, list) else [seg_list]:
            if isinstance(s, dict) and "size" in s:
                return int(s["size"][0]), int(s["size"][1])
    return None


# -- COCO-style part annotations ---------------------------------------------------------------------


def _split_category(name: str, supercategory: str | None) -> tuple[str | None, str]:
    """``"chair:leg"`` -> ``("chair", "leg")``; ``"chair"`` -> ``(None, "chair")``."""
    if ":" in name:
        obj, part = name.split(":", 1)
        return canon(obj), canon(part)
    return None, canon(name)


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
    cats = {c["id"]: _split_category(str(c["name"]), c.get("supercategory")) for c in data["categories"]}
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


# -- MixedParts ----------------------------------------------------------------------------------------


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
                obj, label = _split_category(str(g.get("name", "")), None)
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
        a["id"]: canon(cats[a["category_id"]])
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


# -- QAItem JSON lines and SynthParts -------------------------------------------------------------------


def load_items(path: str | Path) -> list[QAItem]:
    """Load QAItems saved one JSON per line (``multistep.jsonl``); relative image paths are resolved
    against the file's folder."""
    path = Path(path)
    items = []
    for k, rec in enumerate(_records(_read_json(path), path, "QAItem JSON lines")):
        try:
            item = QAItem.model_validate(rec)
        except ValueError as e:
            raise DatasetError(f"{path} line {k + 1} is not a QAItem: {e}") from e
        for im in item.images:
            im.path = _resolve(im.path, path.parent)
        items.append(item)
    return items


def synthparts_cache_dir() -> Path:
    """Where :func:`load_synthparts` keeps its PNGs (``$MEREO_CACHE/synthparts`` or a temp folder)."""
    import os

    root = os.environ.get("MEREO_CACHE") or str(Path(tempfile.gettempdir()) / "mereo-cache")
    return Path(root) / "synthparts"


def load_synthparts(
    split: str,
    n: int,
    seed: int = 0,
    suite: str = "partonomy",
    *,
    size: int = 128,
    per_image: int = 1,
    cache_dir: str | Path | None = None,
) -> list[QAItem]:
    """Generate SynthParts questions in memory, ready for the eval runner.

    The scenes are rendered in this process; their PNGs are written once to ``cache_dir`` (default
    :func:`synthparts_cache_dir`; a file that exists is reused, since scenes are deterministic) and
    the items' ``GoldImage.path`` are absolute paths to them, so every image loads with ``ImageRef``.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"novel"``.
        n: number of images.
        seed: base seed of the scenes and of the questions.
        suite: ``"partonomy"``, ``"pairs"`` or ``"multistep"``.
        size: image side in pixels.
        per_image: questions anchored at each image.
    """
    from mereo.data.synthparts.compose import generate_scenes
    from mereo.data.synthparts.export import write_images
    from mereo.data.synthparts.questions import make_questions

    folder = Path(cache_dir) if cache_dir is not None else synthparts_cache_dir()
    folder = folder / f"size{size}"
    scenes = list(generate_scenes(split, n, seed, size))
    rel = write_images(scenes, folder, overwrite=False)
    return make_questions(scenes, suite, seed=seed, per_image=per_image, paths=[str(folder / r) for r in rel])
