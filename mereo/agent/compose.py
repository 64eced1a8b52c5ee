"""A small interpreter of plan set expressions over labelled mask sets.

Values are :class:`LabelSet`\\ s: part (or object) label -> the masks that carry it, in any image.
Semantics:

- ``intersect``: labels present in every argument; the result keeps the masks of every argument
  (the shared part's masks in each image involved). When part features are known (a
  correspondence backend ran), a label shared by name is kept only if its features agree too.
- ``difference``: labels of the first argument missing from all others, with the first's masks.
- ``symmetric_difference``: labels found in exactly one argument, with that argument's masks.
- ``union``: every label, with all masks.
- ``part_to_whole``: the objects having the part, as object masks; ``common_objects``: object
  labels found in every image, with their object masks; ``whole_to_part``: the recognised
  object's visible parts.
- ``exists``: yes / no (``Result.scalar``), with the masks of the part on the objects that have
  it; ``count``: the number of the part's instances (connected components of its masks, each
  returned as its own mask); ``which``: the candidates that have the part, as object masks.

Objects that verification found absent (``Evidence.absent``) have an empty part set, and a
yes/no or count that depends on one has no value (``scalar`` None): the answer says what could
not be found instead of guessing. The values and the evidence they are computed from are in
:mod:`mereo.agent.evidence`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mereo.agent.evidence import Evidence, LabelSet, PartKey, Result, best_doubtful, guess_note
from mereo.plan import (
    CommonObjectsExpr,
    CountExpr,
    ExistsExpr,
    KbPartsExpr,
    LabelsExpr,
    PartsExpr,
    PartToWholeExpr,
    SetOpExpr,
    WhichExpr,
    WholeToPartExpr,
)
from mereo.types import Mask, PartMask

#: Connected pieces of a part mask smaller than this (pixels) are not counted as instances ...
MIN_INSTANCE_PIXELS = 4
#: ... nor are pieces smaller than this fraction of the largest piece (segmentation fragments;
#: 0.15 counted best on SynthParts val with plum-small, and no gold instance is smaller).
MIN_INSTANCE_FRACTION = 0.15


def evaluate(expr: Any, ev: Evidence) -> Result:
    """Evaluate a validated expression (a :mod:`mereo.plan` node) over ``ev``."""
    notes: list[str] = []
    renamed: list[dict[str, Any]] = []
    caveats: list[str] = []
    if isinstance(expr, (ExistsExpr, CountExpr, WhichExpr)):
        res = _query(expr, ev, notes, caveats)
        res.notes = list(dict.fromkeys(notes))
    else:
        res = Result(_eval(expr, ev, notes, renamed, caveats), list(dict.fromkeys(notes)), renamed)
    res.caveats = caveats
    return res


def _guessed_object(
    out: LabelSet, part: str, keys: list[tuple[int, str]], ev: Evidence, notes: list[str], caveats: list[str]
) -> str | None:
    """Add to ``out`` the object among ``keys`` whose dropped guess of ``part`` was likeliest
    (:func:`~mereo.agent.evidence.best_doubtful`), with the caveat the answer must carry; returns
    its name (None: no guess)."""
    guess = best_doubtful(part, keys, ev)
    if guess is None:
        return None
    img, name, chance = guess
    om = ev.object_mask(img, name)
    out.masks[name] = [om] if om is not None else []
    note = guess_note(part, name, img, chance)
    notes.append(note)
    caveats.append(note)
    return name


def instances(
    mask: Mask, min_pixels: int = MIN_INSTANCE_PIXELS, min_fraction: float = MIN_INSTANCE_FRACTION
) -> list[Mask]:
    """The 4-connected pieces of ``mask`` with at least ``min_pixels`` pixels and at least
    ``min_fraction`` of the largest piece's area, top-left first."""
    from scipy import ndimage  # here, not at import: PartAgent() need not load scipy (0.4 s)

    arr = mask.to_numpy()
    lab, n = ndimage.label(arr)
    pieces = [lab == k for k in range(1, n + 1)]
    largest = max((int(p.sum()) for p in pieces), default=0)
    pieces = [p for p in pieces if int(p.sum()) >= max(min_pixels, min_fraction * largest)]
    pieces.sort(key=lambda p: tuple(np.argwhere(p)[0]))
    return [Mask.from_numpy(p) for p in pieces]


def _has(leaf: PartsExpr, part: str, ev: Evidence, notes: list[str]) -> tuple[bool | None, list[PartMask]]:
    """Whether the object of ``leaf`` has ``part`` (None: the object was not found), and its masks."""
    name = ev.normalize(leaf.object)
    if leaf.image is not None and (leaf.image, name) in ev.absent:
        return None, []
    found = _parts(leaf, ev, notes)
    masks = found.masks.get(part, [])
    return (part in found.masks), masks


def _query(expr: Any, ev: Evidence, notes: list[str], caveats: list[str]) -> Result:
    part = ev.normalize(expr.part)
    if isinstance(expr, CountExpr):
        has, masks = _has(expr.of, part, ev, notes)
        if has is None:
            return Result(LabelSet(kind="count"))
        pieces: list[PartMask] = []
        if masks:
            merged = Mask.union([m.mask for m in masks])
            pieces = [masks[0].model_copy(update={"mask": p}) for p in instances(merged)]
        return Result(LabelSet({part: pieces} if pieces else {}, kind="count"), scalar=len(pieces))
    leaves = list(expr.of) if isinstance(expr, ExistsExpr) else list(expr.candidates)
    per: dict[str, bool | None] = {}
    out = LabelSet(kind="yes_no" if isinstance(expr, ExistsExpr) else "objects")
    for leaf in leaves:
        has, masks = _has(leaf, part, ev, notes)
        name = ev.normalize(leaf.object)
        per[name] = has if per.get(name) is None else per[name]
        if not has:
            continue
        if isinstance(expr, ExistsExpr):
            out.masks.setdefault(part, []).extend(masks)
        elif leaf.image is not None:
            om = ev.object_mask(leaf.image, name)
            out.masks.setdefault(name, []).extend([om] if om is not None else [])
    if isinstance(expr, WhichExpr):
        placed = [(leaf.image, ev.normalize(leaf.object)) for leaf in leaves if leaf.image is not None]
        guessed = None if any(per.values()) else _guessed_object(out, part, placed, ev, notes, caveats)
        if guessed is not None:
            per[guessed] = True
        return Result(out, per_object=per)
    known = [v for v in per.values() if v is not None]
    unknown = len(known) < len(per)
    scalar: bool | None
    if expr.quantifier == "all":
        scalar = False if not all(known) else (None if unknown else True)
    elif expr.quantifier == "any":
        scalar = True if any(known) else (None if unknown else False)
    else:
        scalar = False if any(known) else (None if unknown else True)
    return Result(out, scalar=scalar, per_object=per)


def _eval(
    expr: Any, ev: Evidence, notes: list[str], renamed: list[dict[str, Any]], caveats: list[str]
) -> LabelSet:
    if isinstance(expr, PartsExpr):
        return _parts(expr, ev, notes)
    if isinstance(expr, KbPartsExpr):
        return LabelSet({ev.normalize(p): [] for p in ev.kb_parts(ev.normalize(expr.object))})
    if isinstance(expr, LabelsExpr):
        return LabelSet({ev.normalize(p): [] for p in expr.labels})
    if isinstance(expr, WholeToPartExpr):
        names = ev.object_names(expr.image)
        if not names:
            notes.append(f"no object was recognised in image {expr.image + 1}")
            return LabelSet()
        return _parts(PartsExpr(op="parts", object=names[0], image=expr.image), ev, notes)
    if isinstance(expr, PartToWholeExpr):
        return _part_to_whole(expr, ev, notes, caveats)
    if isinstance(expr, CommonObjectsExpr):
        return _common_objects(expr, ev)
    if isinstance(expr, SetOpExpr):
        args = [_eval(a, ev, notes, renamed, caveats) for a in expr.args]
        return _set_op(expr.op, args, ev, notes, renamed)
    raise TypeError(f"not a set expression node: {expr!r}")


def _parts(expr: PartsExpr, ev: Evidence, notes: list[str]) -> LabelSet:
    name = ev.normalize(expr.object)
    images = [expr.image] if expr.image is not None else sorted({i for (i, o) in ev.parts if o == name})
    present = [i for i in images if (i, name) not in ev.absent]
    out = LabelSet()
    for img in present:
        for pm in ev.parts.get((img, name), []):
            out.masks.setdefault(ev.normalize(pm.label), []).append(pm)
    if not out.masks and (present or not images):
        where = f"image {expr.image + 1}" if expr.image is not None else "the images"
        notes.append(f"no parts of a {name} were found in {where}")
    return out


def _part_to_whole(expr: PartToWholeExpr, ev: Evidence, notes: list[str], caveats: list[str]) -> LabelSet:
    part = ev.normalize(expr.part)
    out = LabelSet(kind="objects")
    for img in expr.images:
        for name in ev.object_names(img):
            labels = {ev.normalize(p.label) for p in ev.parts.get((img, name), [])}
            if part in labels:
                om = ev.object_mask(img, name)
                out.masks.setdefault(name, []).extend([om] if om is not None else [])
    if not out.masks:
        keys = [(i, n) for i in expr.images for n in ev.object_names(i)]
        _guessed_object(out, part, keys, ev, notes, caveats)
    return out


def _common_objects(expr: CommonObjectsExpr, ev: Evidence) -> LabelSet:
    per_image = [set(ev.object_names(img)) for img in expr.images]
    common = set.intersection(*per_image) if per_image else set()
    out = LabelSet(kind="objects")
    for name in sorted(common):
        masks = [ev.object_mask(img, name) for img in expr.images]
        out.masks[name] = [m for m in masks if m is not None]
    return out


def _set_op(
    op: str, args: list[LabelSet], ev: Evidence, notes: list[str], renamed: list[dict[str, Any]]
) -> LabelSet:
    kind = args[0].kind
    if op == "union":
        out = LabelSet(kind=kind)
        for a in args:
            for label, masks in a.masks.items():
                out.masks.setdefault(label, []).extend(masks)
        return out
    if op == "intersect":
        common = set(args[0].masks).intersection(*(set(a.masks) for a in args[1:]))
        out = LabelSet(kind=kind)
        for label in sorted(common):
            masks = [m for a in args for m in a.masks[label]]
            if _features_disagree(masks, ev):
                notes.append(
                    f"'{label}' is named in every set, but its features disagree across the images; "
                    "it is left out"
                )
                continue
            out.masks[label] = masks
        renamed.extend(_renamed_matches(args, ev))
        return out
    if op == "difference":
        rest = set().union(*(set(a.masks) for a in args[1:]))
        renamed.extend(_renamed_matches(args, ev))
        return LabelSet({k: v for k, v in args[0].masks.items() if k not in rest}, kind)
    if op == "symmetric_difference":
        out = LabelSet(kind=kind)
        for i, a in enumerate(args):
            others = set().union(*(set(b.masks) for j, b in enumerate(args) if j != i))
            for label, masks in a.masks.items():
                if label not in others:
                    out.masks.setdefault(label, []).extend(masks)
        renamed.extend(_renamed_matches(args, ev))
        return out
    raise ValueError(f"unknown set operation {op!r}")


def _key(pm: PartMask, ev: Evidence) -> PartKey:
    return (pm.image_index, ev.normalize(pm.object or ""), ev.normalize(pm.label))


def _features_disagree(masks: list[PartMask], ev: Evidence) -> bool:
    """True when some pair of same-named masks in different images has known, low similarity."""
    if not ev.similarity:
        return False
    sims = []
    for i, a in enumerate(masks):
        for b in masks[i + 1 :]:
            if a.image_index == b.image_index:
                continue
            s = ev.similarity.get((_key(a, ev), _key(b, ev)))
            if s is not None:
                sims.append(s)
    return bool(sims) and max(sims) < ev.threshold


def _renamed_matches(args: list[LabelSet], ev: Evidence) -> list[dict[str, Any]]:
    """Parts whose features match across images although their names differ."""
    if not ev.similarity or len(args) < 2:
        return []
    out = []
    a_masks, b_masks = args[0].all_masks(), [m for s in args[1:] for m in s.all_masks()]
    a_labels, b_labels = set(args[0].masks), {label for s in args[1:] for label in s.masks}
    for a in a_masks:
        for b in b_masks:
            ka, kb = _key(a, ev), _key(b, ev)
            if ka[0] == kb[0] or ka[2] == kb[2] or ka[2] in b_labels or kb[2] in a_labels:
                continue  # a part that already has a same-named counterpart is not a renamed match
            s = ev.similarity.get((ka, kb))
            if ev.mutual is not None and (ka, kb) not in ev.mutual:
                continue  # only mutual best matches count as "the same part under another name"
            if s is not None and s >= ev.threshold:
                out.append(
                    {
                        "a": {"image": ka[0], "object": ka[1], "label": ka[2]},
                        "b": {"image": kb[0], "object": kb[1], "label": kb[2]},
                        "similarity": round(s, 3),
                    }
                )
    return out
