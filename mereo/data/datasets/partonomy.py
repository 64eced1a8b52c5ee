"""Partonomy-Core QA records (PLUM's benchmark): one image, a question, five choices, gold masks.

Part and object names are put in canonical form (:func:`mereo.knowledge.canonical`:
``"wings"`` -> ``"wing"``), so they compare with the agent's names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
    resolve as _resolve,
)
from mereo.data.datasets.common import (
    union as _union,
)
from mereo.data.items import GoldImage, QAItem
from mereo.errors import DatasetError
from mereo.knowledge import canonical
from mereo.types import PartMask

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

_OTHER = re.compile(
    r"(?:in common with|which|that)\s+(?:an?\s+)?([a-z][a-z \-]*?)\s*"
    r"(?:does not have|doesn't have|lacks)?\?",
    re.IGNORECASE,
)
_PART = re.compile(r"\bhas\s+(?:an?\s+)?([a-z][a-z \-]*?)\?", re.IGNORECASE)


def _choice_labels(text: str) -> list[str]:
    tail = text.split(":", 1)[-1].strip().rstrip(".")
    return [canonical(x) for x in re.split(r",\s*(?:and\s+)?|\s+and\s+", tail) if x.strip()]


def _partonomy_plan(qtype: str, obj: str | None, question: str) -> dict[str, Any] | None:
    if qtype == "whole_to_part":
        return {"expr": {"op": "whole_to_part", "image": 0}, "returns": "parts"}
    if qtype == "part_to_whole":
        m = _PART.search(question)
        return (
            {
                "expr": {"op": "part_to_whole", "part": canonical(m.group(1)), "images": [0]},
                "returns": "objects",
            }
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
        "expr": {"op": name, "args": [own, {"op": "kb_parts", "object": canonical(m.group(1))}]},
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
        answer_parts = [[canonical(str(x)) for x in ps] for ps in rec.get("answer_parts") or []]
        gold = answer_parts[ci] if answer_parts else _choice_labels(choices[ci])
        image_path = _resolve(str(rec["image_path"]), base)
        segs: dict[str, list[Any]] = rec.get("segmentations") or {}
        size = _seg_size(segs) or _image_size(Path(image_path))
        objects = qtype == "part_to_whole"
        label = rec.get("image_label")
        obj = None if objects or not label else canonical(str(label))
        masks = []
        for name, seg_list in segs.items():
            if not (isinstance(seg_list, list) and seg_list and not _is_polygon(seg_list)):
                seg_list = [seg_list]
            ms = [_mask(s, size[0], size[1], f"{where} segmentation {name!r}") for s in seg_list]
            lab = canonical(name)
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
    return canonical(m.group(1)) if m else None


def _is_polygon(seg: Any) -> bool:
    return isinstance(seg, list) and bool(seg) and isinstance(seg[0], (int, float))


def _seg_size(segs: dict[str, Any]) -> tuple[int, int] | None:
    for seg_list in segs.values():
        for s in seg_list if isinstance(seg_list, list) else [seg_list]:
            if isinstance(s, dict) and "size" in s:
                return int(s["size"][0]), int(s["size"][1])
    return None
