"""The ``checks`` suite: yes/no, count and which-object questions, and questions about absent objects.

Question types (gold answers from the scenes' visible part instances):

- ``exists``: "Does the bird have a beak?" (one image), or "Do the mug in image 1 and the kettle
  in image 2 both have handles?" with ``both`` / ``either`` / ``neither``; gold
  ``QAItem.gold_value`` True / False, labels ``[part]`` when yes, the part's masks.
- ``count``: "How many legs does the stool have?"; gold value = visible instances of the part;
  asked only when each instance is its own connected piece of the part's mask (so counting the
  pieces of a segmentation can be right), with one gold mask per instance.
- ``which``: "Which object has a spout, the mug in image 1 or the kettle in image 2?"; gold
  labels: the candidates that have the part.
- ``absent``: an identification, yes/no or count question about an object the image does not
  show; the right answer says it could not find it (``QAItem.absent_objects``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from mereo.data.items import QAItem
from mereo.data.synthparts import phrasing as ph
from mereo.data.synthparts.scene import SceneObject
from mereo.data.synthparts.templates import CATEGORIES
from mereo.types import Mask, PartMask

CHECK_TYPES = ("exists", "count", "which", "absent")
#: Pieces smaller than this (pixels), or than this fraction of the largest, are not instances
#: (as in :mod:`mereo.agent.compose`); a part with such an instance is not asked about.
MIN_INSTANCE_PIXELS = 4
MIN_INSTANCE_FRACTION = 0.15

EXISTS_ONE = (
    "Does the {obj} have {a_part}?",
    "Does the {obj} in the image have {a_part}?",
    "Does the {obj} here have any {parts}?",
)
EXISTS_TWO = {
    "all": ("Do the {a} in image 1 and the {b} in image 2 both have {parts}?",),
    "any": ("Does either the {a} in image 1 or the {b} in image 2 have {a_part}?",),
    "none": ("Does neither the {a} in image 1 nor the {b} in image 2 have {a_part}?",),
}
COUNT = (
    "How many {parts} does the {obj} have?",
    "How many {parts} does the {obj} in the image have?",
    "How many {parts} can you see on the {obj}?",
)
WHICH = (
    "Which object has {a_part}, the {a} in image 1 or the {b} in image 2?",
    "Which has {a_part}: the {a} in image 1 or the {b} in image 2?",
)


def plural(noun: str) -> str:
    """``leg -> legs``, ``body -> bodies``."""
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    return noun + "s"


def _fill(template: str, **kw: str) -> str:
    part = kw.get("part", "")
    return template.format(**kw, a_part=ph.article(part) if part else "", parts=plural(part) if part else "")


def _pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _leaf(obj: str, image: int) -> dict[str, Any]:
    return {"op": "parts", "object": obj, "image": image}


def count_instances(obj: SceneObject, label: str) -> list[np.ndarray] | None:
    """The visible instances of ``label`` when each is exactly one connected piece of the part's
    mask (``None`` otherwise: touching or broken instances cannot be counted from a mask)."""
    inst = [p.mask for p in obj.parts if p.label == label and p.visible]
    if not inst:
        return None
    union = np.logical_or.reduce(inst)
    lab, n = ndimage.label(union)
    sizes = [int((lab == k).sum()) for k in range(1, n + 1)]
    if sum(s >= MIN_INSTANCE_PIXELS for s in sizes) != len(inst) or min(sizes) < MIN_INSTANCE_PIXELS:
        return None
    if min(sizes) < MIN_INSTANCE_FRACTION * max(sizes):
        return None
    for m in inst:
        if ndimage.label(m)[1] != 1:
            return None
    return inst


def _part_masks(images: list[Any], index: int, obj: str, labels: set[str]) -> list[PartMask]:
    return images[index].masks_of(index, obj, labels)


def _make(
    qid: str, qtype: str, question: str, images: list[Any], expr: dict[str, Any], returns: str, **kw: Any
) -> QAItem:
    return QAItem(
        id=qid,
        suite="checks",
        question_type=qtype,
        question=question,
        images=[im.gold(k) for k, im in enumerate(images)],
        gold_plan={"expr": expr, "returns": returns},
        **kw,
    )


def _no_part(rng: np.random.Generator, obj: SceneObject, kb_parts: Any, pool: list[str]) -> str | None:
    """A part the object neither shows nor has in the taxonomy (so "no" is not an occlusion)."""
    known = set(kb_parts(obj.category)) | set(obj.visible_parts())
    options = [p for p in pool if p not in known]
    return str(_pick(rng, options)) if options else None


def make_check(
    qid: str,
    qtype: str,
    i: int,
    images: list[Any],
    rng: np.random.Generator,
    nameable: Any,
    kb_parts: Any,
    part_pool: Any,
) -> QAItem | None:
    """One ``checks`` question anchored at ``images[i]`` (``None`` when the scene does not allow it).

    Args:
        images: the suite's ``_Image``\\ s (scene, path and gold masks); ``nameable``, ``kb_parts``,
            ``part_pool``: the helpers of :mod:`mereo.data.synthparts.questions`.
    """
    im = images[i]
    named: list[SceneObject] = nameable(im.scene)
    if qtype == "absent":
        shown = {o.category for o in im.scene.objects}
        cat = str(_pick(rng, [c for c in sorted(CATEGORIES) if c not in shown]))
        form = int(rng.integers(3))
        if form == 0:
            text = _pick(rng, ph.PHRASINGS["identification"]).format(obj=cat)
            expr, returns = _leaf(cat, 0), "parts"
        else:
            part = str(_pick(rng, sorted(kb_parts(cat)) or ["leg"]))
            if form == 1:
                text = _fill(_pick(rng, EXISTS_ONE), obj=cat, part=part)
                expr = {"op": "exists", "part": part, "of": [_leaf(cat, 0)], "quantifier": "all"}
                returns = "yes_no"
            else:
                text = _fill(_pick(rng, COUNT), obj=cat, part=part)
                expr, returns = {"op": "count", "part": part, "of": _leaf(cat, 0)}, "count"
        return _make(qid, "absent", text, [im], expr, returns, absent_objects=[cat])
    if not named:
        return None
    if qtype == "count":
        singles: list[tuple[SceneObject, str, list[np.ndarray]]] = []
        for k in rng.permutation(len(named)):
            obj = named[int(k)]
            countable = [(lab, c) for lab in obj.visible_parts() if (c := count_instances(obj, lab))]
            several = [(obj, lab, c) for lab, c in countable if len(c) > 1]
            singles += [(obj, lab, c) for lab, c in countable if len(c) == 1]
            if several:
                break
        choice = several or (singles if rng.random() < 0.3 else [])
        if not choice:
            return None
        obj, label, inst = choice[int(rng.integers(len(choice)))]
        text = _fill(_pick(rng, COUNT), obj=obj.category, part=label)
        masks = [
            PartMask(
                label=label,
                object=obj.category,
                image_index=0,
                mask=Mask.from_numpy(m),
                score=1.0,
                kind="part",
                source="synthparts",
            )
            for m in inst
        ]
        expr = {"op": "count", "part": label, "of": _leaf(obj.category, 0)}
        return _make(
            qid,
            "count",
            text,
            [im],
            expr,
            "count",
            gold_labels=[label],
            gold_masks=masks,
            gold_value=len(inst),
        )
    if qtype == "exists" and (rng.random() < 0.6 or len(images) < 2):
        obj = named[int(rng.integers(len(named)))]
        visible = obj.visible_parts()
        asked = (
            str(_pick(rng, visible))
            if visible and rng.random() < 0.5
            else _no_part(rng, obj, kb_parts, part_pool(obj.category))
        )
        if asked is None:
            return None
        part = asked
        yes = part in visible
        text = _fill(_pick(rng, EXISTS_ONE), obj=obj.category, part=part)
        expr = {"op": "exists", "part": part, "of": [_leaf(obj.category, 0)], "quantifier": "all"}
        return _make(
            qid,
            "exists",
            text,
            [im],
            expr,
            "yes_no",
            gold_labels=[part] if yes else [],
            gold_masks=_part_masks([im], 0, obj.category, {part}) if yes else [],
            gold_value=yes,
        )
    for j in rng.permutation(len(images))[:40]:
        if int(j) == i:
            continue
        other = images[int(j)]
        nb = [o for o in nameable(other.scene) if o.category not in {x.category for x in named}]
        if not nb:
            continue
        a, b = named[int(rng.integers(len(named)))], nb[int(rng.integers(len(nb)))]
        va, vb = set(a.visible_parts()), set(b.visible_parts())
        pair = [im, other]
        if qtype == "which":
            only = sorted(va ^ vb)
            pool = only if only and rng.random() < 0.8 else sorted(va | vb)
            if not pool:
                continue
            part = str(_pick(rng, pool))
            having = [o.category for o, v in ((a, va), (b, vb)) if part in v]
            text = _fill(_pick(rng, WHICH), a=a.category, b=b.category, part=part)
            expr = {"op": "which", "part": part, "candidates": [_leaf(a.category, 0), _leaf(b.category, 1)]}
            masks = [
                m.model_copy(update={"image_index": k})
                for k, (img, o) in enumerate(((im, a), (other, b)))
                if o.category in having
                for m in img.masks_of(k, o.category, {o.category}, kind="object")
            ]
            return _make(
                qid, "which", text, pair, expr, "objects", gold_labels=sorted(having), gold_masks=masks
            )
        quantifier = str(_pick(rng, ("all", "any", "none")))
        pool = (
            sorted(va | vb) if rng.random() < 0.7 else [p for p in part_pool(a.category) if p not in va | vb]
        )
        if not pool:
            continue
        part = str(_pick(rng, pool))
        has = [part in va, part in vb]
        yes = all(has) if quantifier == "all" else any(has) if quantifier == "any" else not any(has)
        text = _fill(_pick(rng, EXISTS_TWO[quantifier]), a=a.category, b=b.category, part=part)
        expr = {
            "op": "exists",
            "part": part,
            "of": [_leaf(a.category, 0), _leaf(b.category, 1)],
            "quantifier": quantifier,
        }
        masks = [m for k, o in enumerate((a, b)) if has[k] for m in _part_masks(pair, k, o.category, {part})]
        return _make(
            qid,
            "exists",
            text,
            pair,
            expr,
            "yes_no",
            gold_labels=[part] if any(has) else [],
            gold_masks=masks,
            gold_value=yes,
        )
    return None
