"""Benchmark questions with gold answers, computed from the visible masks of generated scenes.

Three suites (see :data:`mereo.data.items.Suite`):

- ``partonomy`` (one image): identification, intersection / difference with a named object that
  is not shown (its parts come from the knowledge base), part-to-whole, whole-to-part; 5 choices.
- ``pairs`` (two images, Calico style): common objects, common parts, unique parts.
- ``multistep`` (2-3 images): compositions of 2-3 set operations (:data:`phrasing.MULTISTEP`).
- ``checks`` (1-2 images): yes/no, count, which-of-these, and absent objects
  (:mod:`mereo.data.synthparts.checks`).

Every item carries its ``gold_plan`` set expression; :func:`evaluate` computes a set expression
over the scenes, and the gold labels and masks come from it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from mereo.data.items import GoldImage, QAItem, Suite
from mereo.data.synthparts import phrasing as ph
from mereo.data.synthparts.scene import Scene, SceneObject
from mereo.data.synthparts.templates import CATEGORIES, PART_LABELS
from mereo.errors import DatasetError, MereoError
from mereo.types import Mask, PartMask

PARTONOMY_TYPES = ("identification", "intersection", "difference", "part_to_whole", "whole_to_part")
PAIR_TYPES = ("common_objects", "common_parts", "unique_parts")
SUITES: tuple[str, ...] = ("partonomy", "pairs", "multistep", "checks")
Expr = dict[str, Any]


@lru_cache(maxsize=512)
def kb_parts(name: str) -> tuple[str, ...]:
    """The taxonomy's parts of ``name``: the knowledge base's ``parts_of`` (what the planner uses),
    or SynthParts' own table when the knowledge base cannot be loaded or does not know ``name``."""
    try:
        return tuple(_kb().parts_of(name))
    except (ImportError, MereoError):
        data = json.loads(resources.files("mereo.knowledge.data").joinpath("synthparts.json").read_text())
        return tuple(data["objects"].get(name, {}).get("parts", []))


@lru_cache(maxsize=1)
def _kb() -> Any:
    from mereo.knowledge import PartHierarchy

    return PartHierarchy.default()


# -- set expressions -------------------------------------------------------------------------------


def parts(obj: str, image: int | None) -> Expr:
    """The visible parts of ``obj`` in image ``image`` (0-based)."""
    return {"op": "parts", "object": obj, "image": image}


def kb(obj: str) -> Expr:
    """The knowledge base's parts of ``obj`` (an object in no image)."""
    return {"op": "kb_parts", "object": obj}


def op(name: str, *args: Expr) -> Expr:
    """A set operation (``intersect``, ``union``, ``difference``, ``symmetric_difference``)."""
    return {"op": name, "args": list(args)}


def evaluate(expr: Expr, scenes: Sequence[Scene], focus: Sequence[SceneObject | None]) -> set[str]:
    """Evaluate a set expression over ``scenes`` (``focus[i]`` is the named object of image ``i``)."""
    kind = expr["op"]
    if kind in ("parts", "whole_to_part"):
        obj = focus[expr["image"]]
        if obj is None:
            raise DatasetError(f"image {expr['image']} has no named object for {expr}")
        return set(obj.visible_parts())
    if kind == "kb_parts":
        return set(kb_parts(expr["object"]))
    if kind == "part_to_whole":
        return {
            o.category for i in expr["images"] for o in scenes[i].objects if expr["part"] in o.visible_parts()
        }
    if kind == "common_objects":
        sets = [{o.category for o in scenes[i].objects} for i in expr["images"]]
        return set.intersection(*sets)
    vals = [evaluate(a, scenes, focus) for a in expr["args"]]
    if kind == "intersect":
        return set.intersection(*vals)
    if kind == "union":
        return set.union(*vals)
    if kind == "difference":
        return vals[0] - set.union(set(), *vals[1:])
    if kind == "symmetric_difference":
        out: set[str] = set()
        for v in vals:
            out ^= v
        return out
    raise DatasetError(f"unknown set operation {kind!r}")


def positive_images(expr: Expr) -> set[int]:
    """Images whose parts can appear in the answer (not the subtracted side of a difference)."""
    kind = expr["op"]
    if kind in ("parts", "whole_to_part"):
        return {int(expr["image"])}
    if kind in ("part_to_whole", "common_objects"):
        return set(expr["images"])
    if kind == "kb_parts":
        return set()
    if kind == "difference":
        return positive_images(expr["args"][0])
    return set().union(*(positive_images(a) for a in expr["args"]))


# -- gold images and masks ---------------------------------------------------------------------------


def scene_masks(scene: Scene) -> list[PartMask]:
    """Gold masks of a scene: one ``kind="object"`` mask per object, one per visible part label."""
    out = []
    for obj in scene.objects:
        out.append(
            PartMask(
                label=obj.category,
                object=obj.category,
                mask=Mask.from_numpy(obj.mask),
                image_index=0,
                score=1.0,
                kind="object",
                source="synthparts",
            )
        )
        for label in obj.visible_parts():
            out.append(
                PartMask(
                    label=label,
                    object=obj.category,
                    mask=Mask.from_numpy(obj.part_mask(label)),
                    image_index=0,
                    score=1.0,
                    kind="part",
                    source="synthparts",
                )
            )
    return out


class _Image:
    """A scene with its file path and its gold masks encoded once."""

    def __init__(self, scene: Scene, path: str):
        self.scene = scene
        self.path = path
        self.masks = scene_masks(scene)

    def gold(self, index: int) -> GoldImage:
        h, w = self.scene.image.shape[:2]
        return GoldImage(
            path=self.path,
            width=w,
            height=h,
            image_id=self.scene.uid,
            parts=[m.model_copy(update={"image_index": index}) for m in self.masks],
        )

    def masks_of(self, index: int, obj: str, labels: set[str], kind: str = "part") -> list[PartMask]:
        return [
            m.model_copy(update={"image_index": index})
            for m in self.masks
            if m.kind == kind and m.object == obj and m.label in labels
        ]


def _nameable(scene: Scene) -> list[SceneObject]:
    """Objects whose category occurs once in the scene (so "the chair" names one object)."""
    counts: dict[str, int] = {}
    for o in scene.objects:
        counts[o.category] = counts.get(o.category, 0) + 1
    return [o for o in scene.objects if counts[o.category] == 1]


def _part_pool(category: str) -> list[str]:
    sup = CATEGORIES[category].supercategory if category in CATEGORIES else None
    pool = sorted({p for t in CATEGORIES.values() if t.supercategory == sup for p in t.parts})
    return pool if len(pool) >= 8 else list(PART_LABELS)


def _gold_masks(
    expr: Expr, images: list[_Image], focus: list[SceneObject | None], answer: set[str], returns: str
) -> list[PartMask]:
    out: list[PartMask] = []
    for i in sorted(positive_images(expr)):
        if returns == "objects":  # every object of an answer category, each mask once
            for cat in sorted({o.category for o in images[i].scene.objects} & answer):
                out += images[i].masks_of(i, cat, {cat}, kind="object")
        else:
            obj = focus[i]
            if obj is not None:
                out += images[i].masks_of(i, obj.category, answer & set(obj.visible_parts()))
    return out


# -- items -----------------------------------------------------------------------------------------


def _item(
    qid: str,
    suite: Suite,
    qtype: str,
    question: str,
    images: list[_Image],
    focus: list[SceneObject | None],
    expr: Expr,
    returns: str,
    rng: np.random.Generator,
    *,
    mc: bool = False,
    other: str | None = None,
) -> QAItem | None:
    """Build one item; ``None`` when the gold answer is empty."""
    answer = evaluate(expr, [im.scene for im in images], focus)
    if not answer:
        return None
    labels = sorted(answer)
    item = QAItem(
        id=qid,
        suite=suite,
        question_type=qtype,
        question=question,
        images=[im.gold(k) for k, im in enumerate(images)],
        gold_labels=labels,
        gold_masks=_gold_masks(expr, images, focus, answer, returns),
        gold_plan={"expr": expr, "returns": returns},
        other_object=other,
    )
    if mc:
        obj = focus[0].category if focus and focus[0] is not None else None
        pool = sorted(CATEGORIES) if returns == "objects" else _part_pool(obj or "")
        item.answer_parts, item.answer_types = ph.choices(rng, labels, pool)
        text_obj = None if qtype == "whole_to_part" and obj is None else obj
        item.answer_choices = [ph.answer_sentence(qtype, ls, text_obj) for ls in item.answer_parts]
    return item


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


def _partonomy(qid: str, qtype: str, im: _Image, rng: np.random.Generator) -> QAItem | None:
    scene = im.scene
    named = _nameable(scene)
    if qtype == "part_to_whole":
        owners: dict[str, list[str]] = {}
        for o in scene.objects:
            for p in o.visible_parts():
                owners.setdefault(p, []).append(o.category)
        if not owners:
            return None
        single = sorted(p for p, cats in owners.items() if len(cats) == 1)
        part = _pick(rng, single if single and rng.random() < 0.8 else sorted(owners))
        text = _pick(rng, ph.PHRASINGS[qtype]).format(part=part, a_part=ph.article(part))
        expr: Expr = {"op": "part_to_whole", "part": part, "images": [0]}
        return _item(qid, "partonomy", qtype, text, [im], [None], expr, "objects", rng, mc=True)
    if not named or (qtype == "whole_to_part" and len(scene.objects) != 1):
        return None
    obj = named[int(rng.integers(len(named)))]
    if qtype in ("identification", "whole_to_part"):
        expr = parts(obj.category, 0) if qtype == "identification" else {"op": "whole_to_part", "image": 0}
        text = _pick(rng, ph.PHRASINGS[qtype]).format(obj=obj.category)
        return _item(qid, "partonomy", qtype, text, [im], [obj], expr, "parts", rng, mc=True)
    visible = set(obj.visible_parts())
    fallback = None
    for other in rng.permutation(sorted(CATEGORIES)):
        other = str(other)
        if other == obj.category:
            continue
        known = set(kb_parts(other))
        answer = visible & known if qtype == "intersection" else visible - known
        if answer and (answer != visible or qtype == "difference"):
            fallback = other
            break
        if answer and fallback is None:
            fallback = other
    if fallback is None:
        return None
    name = "intersect" if qtype == "intersection" else "difference"
    expr = op(name, parts(obj.category, 0), kb(fallback))
    text = _pick(rng, ph.PHRASINGS[qtype]).format(obj=obj.category, a_other=ph.article(fallback))
    return _item(qid, "partonomy", qtype, text, [im], [obj], expr, "parts", rng, mc=True, other=fallback)


def _pair(qid: str, qtype: str, i: int, images: list[_Image], rng: np.random.Generator) -> QAItem | None:
    first = images[i]
    for j in rng.permutation(len(images))[:40]:
        if j == i:
            continue
        second = images[int(j)]
        if qtype == "common_objects":
            expr: Expr = {"op": "common_objects", "images": [0, 1]}
            text = _pick(rng, ph.PHRASINGS[qtype])
            item = _item(qid, "pairs", qtype, text, [first, second], [None, None], expr, "objects", rng)
        else:
            na, nb = _nameable(first.scene), _nameable(second.scene)
            if not na or not nb:
                continue
            a, b = na[int(rng.integers(len(na)))], nb[int(rng.integers(len(nb)))]
            name = "intersect" if qtype == "common_parts" else "symmetric_difference"
            expr = op(name, parts(a.category, 0), parts(b.category, 1))
            text = _pick(rng, ph.PHRASINGS[qtype]).format(a=a.category, b=b.category)
            item = _item(qid, "pairs", qtype, text, [first, second], [a, b], expr, "parts", rng)
        if item is not None:
            return item
    return None


def _multistep_expr(kind: str, cats: list[str], other: str) -> Expr:
    a, b = parts(cats[0], 0), parts(cats[1], 1)
    c = parts(cats[2], 2) if len(cats) > 2 else None
    if kind == "shared_minus_third" and c:
        return op("difference", op("intersect", a, b), c)
    if kind == "shared_with_named":
        return op("intersect", op("intersect", a, b), kb(other))
    if kind == "shared_not_named":
        return op("difference", op("intersect", a, b), kb(other))
    if kind == "only_first" and c:
        return op("difference", a, op("union", b, c))
    if kind == "first_in_either" and c:
        return op("intersect", a, op("union", b, c))
    return op("intersect", op("difference", a, b), kb(other))  # unique_and_named


THREE_IMAGE_STEPS = ("shared_minus_third", "only_first", "first_in_either")


def _multistep(qid: str, kind: str, i: int, images: list[_Image], rng: np.random.Generator) -> QAItem | None:
    n_img = 3 if kind in THREE_IMAGE_STEPS else 2
    if len(images) < n_img:
        return None
    for _ in range(40):
        pool = [j for j in range(len(images)) if j != i]
        others = [int(j) for j in rng.choice(pool, n_img - 1, replace=False)]
        chosen = [images[i]] + [images[j] for j in others]
        named = [_nameable(im.scene) for im in chosen]
        if not all(named):
            continue
        focus: list[SceneObject | None] = [ns[int(rng.integers(len(ns)))] for ns in named]
        cats = [f.category for f in focus if f is not None]
        other = _pick(rng, [c for c in sorted(CATEGORIES) if c not in cats])
        expr = _multistep_expr(kind, cats, other)
        fill = {"a": cats[0], "b": cats[1], "c": cats[2] if len(cats) > 2 else "", "a_x": ph.article(other)}
        text = _pick(rng, ph.MULTISTEP[kind]).format(**fill)
        uses_other = "kb_parts" in json.dumps(expr)
        item = _item(
            qid,
            "multistep",
            "multistep",
            text,
            chosen,
            focus,
            expr,
            "parts",
            rng,
            other=other if uses_other else None,
        )
        if item is not None:
            item.gold_plan = {"expr": expr, "returns": "parts", "composition": kind}
            return item
    return None


def make_questions(
    scenes: Sequence[Scene],
    suite: str,
    *,
    seed: int = 0,
    per_image: int = 1,
    paths: Sequence[str] | None = None,
) -> list[QAItem]:
    """Questions about ``scenes`` with gold answers, in scene order.

    Args:
        scenes: rendered scenes (pairs and multi-step questions draw their other images from them).
        suite: ``"partonomy"``, ``"pairs"`` or ``"multistep"``.
        seed: seed of the question choices (types, objects, phrasings, distractors, partners).
        per_image: questions anchored at each scene (question types rotate so all are balanced).
        paths: each scene's image path as stored in the items (default ``images/<uid>.png``).

    Raises:
        DatasetError: unknown suite or mismatched ``paths``.
    """
    if suite not in SUITES:
        raise DatasetError(f"unknown question suite {suite!r}; choose from {', '.join(SUITES)}")
    if paths is not None and len(paths) != len(scenes):
        raise DatasetError(f"got {len(paths)} image paths for {len(scenes)} scenes")
    images = [
        _Image(s, paths[k] if paths is not None else f"images/{s.uid}.png") for k, s in enumerate(scenes)
    ]
    from mereo.data.synthparts.checks import CHECK_TYPES, make_check

    types = {
        "partonomy": PARTONOMY_TYPES,
        "pairs": PAIR_TYPES,
        "multistep": tuple(ph.MULTISTEP),
        "checks": CHECK_TYPES,
    }[suite]
    items: list[QAItem] = []
    for i, im in enumerate(images):
        rng = np.random.default_rng(
            [
                seed,
                SUITES.index(suite),
                im.scene.seed,
                im.scene.index,
                ["train", "val", "test", "novel"].index(im.scene.split),
            ]
        )
        made = 0
        for k in range(len(types)):
            if made >= per_image:
                break
            qtype = types[(i + made + k) % len(types)]
            qid = f"{suite}-{im.scene.uid}-{made}"
            if suite == "partonomy":
                item = _partonomy(qid, qtype, im, rng)
            elif suite == "pairs":
                item = _pair(qid, qtype, i, images, rng)
            elif suite == "checks":
                item = make_check(qid, qtype, i, images, rng, _nameable, kb_parts, _part_pool)
            else:
                item = _multistep(qid, qtype, i, images, rng)
            if item is not None:
                items.append(item)
                made += 1
    return items
