"""Metrics of the reference benchmarks (Partonomy / PLUM, Calico / MixedParts) and of multi-step items.

Every metric is a small function over :class:`mereo.types.PartMask` (or :class:`mereo.types.Mask`)
lists and label lists; see ``/work/shared/METRICS.md`` for the definitions they follow. Where the
references disagree the choice is a named option and the default is documented.

Mask metrics work per *image*: an item about two images contributes two images, told apart by
``PartMask.image_index``. IoUs are fractions in ``[0, 1]`` (multiply by 100 for the papers' %).

Example:
    >>> from mereo.types import Mask, PartMask
    >>> import numpy as np
    >>> m = np.zeros((4, 4), bool); m[:2] = True
    >>> p = PartMask(label="seat", mask=Mask.from_numpy(m))
    >>> giou([([p], [p])])
    1.0
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from mereo.types import Mask, PartMask

MaskLike = Mask | PartMask
#: One image's predictions and gold masks.
ImagePair = tuple[Sequence[MaskLike], Sequence[MaskLike]]
Similarity = Callable[[str, str], float]

__all__ = [
    "Matching",
    "Reduction",
    "RecallMode",
    "PairIoU",
    "PRF",
    "normalize_label",
    "union_by_label",
    "iou_matrix",
    "match_image",
    "split_by_image",
    "giou",
    "ciou",
    "multiple_choice_accuracy",
    "part_prf",
    "ap50",
    "miou",
    "recall",
    "semantic_similarity",
    "siou",
    "answer_set_f1",
    "exact_set_match",
    "normalize_expr",
    "plan_match",
    "minilm_similarity",
    "mean",
]


class Matching(StrEnum):
    """How predicted masks are paired with gold masks (after unioning instances per label).

    PAIRED: pair by label (by position for unlabelled :class:`Mask` lists); a label on one side
        only is paired with an empty mask, so missed and extra parts score IoU 0. The reference
        default.
    GREEDY: sort all (pred, gold) pairs by IoU and take each row / column once (GLaMM).
    HUNGARIAN: ``linear_sum_assignment`` maximising the summed IoU.
    UNION: one pair, the union of all predictions against the union of all gold masks.

    GREEDY and HUNGARIAN score only matched pairs, as the reference does; when one side is
    empty each mask of the other side counts IoU 0.
    """

    PAIRED = "paired"
    GREEDY = "greedy"
    HUNGARIAN = "hungarian"
    UNION = "union"


class Reduction(StrEnum):
    """MACRO: mean IoU per image, then mean over images. MICRO: mean over all mask pairs."""

    MACRO = "macro"
    MICRO = "micro"


class RecallMode(StrEnum):
    """What Calico Recall does when the best remaining pair fails a threshold.

    STOP: stop matching this image (GLaMM's reference code; the default, since Calico follows it).
    SKIP: drop that pair and keep matching the remaining ones (never lower than STOP).
    """

    STOP = "stop"
    SKIP = "skip"


@dataclass(frozen=True)
class PairIoU:
    """One scored (pred, gold) pair; ``intersection`` and ``union`` in pixels (for cIoU)."""

    pred: int
    gold: int
    iou: float
    intersection: int
    union: int


@dataclass(frozen=True)
class PRF:
    """Micro-summed precision / recall / F1 with their counts."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


# -- helpers ---------------------------------------------------------------------------------


def mean(values: Iterable[float], empty: float = float("nan")) -> float:
    """Mean of ``values``; ``empty`` when there are none."""
    vals = list(values)
    return float(np.mean(vals)) if vals else empty


def normalize_label(label: str) -> str:
    """Lower-case, ``_`` to space, collapsed whitespace: ``"Back_Rest "`` -> ``"back rest"``."""
    return " ".join(label.replace("_", " ").lower().split())


def _mask(m: MaskLike) -> Mask:
    return m.mask if isinstance(m, PartMask) else m


def union_by_label(masks: Sequence[MaskLike]) -> dict[str, Mask]:
    """One mask per label: instances that share a (normalised) name are unioned.

    Plain :class:`Mask` items keep their position as their label (``"0"``, ``"1"``, ...).
    """
    groups: dict[str, list[Mask]] = defaultdict(list)
    for i, m in enumerate(masks):
        key = normalize_label(m.label) if isinstance(m, PartMask) else str(i)
        groups[key].append(_mask(m))
    return {k: (v[0] if len(v) == 1 else Mask.union(v)) for k, v in groups.items()}


def _inter_union(a: Mask, b: Mask) -> tuple[int, int]:
    inter = Mask.intersection([a, b]).area
    return inter, a.area + b.area - inter


def _score(a: Mask, b: Mask, i: int, j: int) -> PairIoU:
    inter, union = _inter_union(a, b)
    return PairIoU(i, j, 1.0 if union == 0 else inter / union, inter, union)


def iou_matrix(pred: Sequence[MaskLike], gold: Sequence[MaskLike]) -> np.ndarray:
    """``len(pred) x len(gold)`` IoUs; a pair of empty masks has IoU 1."""
    out = np.zeros((len(pred), len(gold)), dtype=np.float64)
    for i, p in enumerate(pred):
        for j, g in enumerate(gold):
            out[i, j] = _score(_mask(p), _mask(g), i, j).iou
    return out


def _greedy(matrix: np.ndarray, stop_at_zero: bool) -> list[tuple[int, int]]:
    """Pairs ``(row, col)`` taken in decreasing order of value, each row / column once."""
    order = sorted(
        ((float(matrix[i, j]), i, j) for i in range(matrix.shape[0]) for j in range(matrix.shape[1])),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    rows: set[int] = set()
    cols: set[int] = set()
    out = []
    for v, i, j in order:
        if stop_at_zero and v <= 0:
            break
        if i in rows or j in cols:
            continue
        rows.add(i)
        cols.add(j)
        out.append((i, j))
    return out


def _size_of(*groups: Iterable[Mask]) -> tuple[int, int]:
    for g in groups:
        for m in g:
            return m.size
    return (1, 1)


def match_image(
    pred: Sequence[MaskLike], gold: Sequence[MaskLike], matching: Matching | str = Matching.PAIRED
) -> list[PairIoU]:
    """Score one image: union instances per label, pair masks by ``matching``, IoU each pair.

    Args:
        pred: predicted masks of one image.
        gold: gold masks of the same image (same pixel size).
        matching: see :class:`Matching`.

    Returns:
        The scored pairs. ``pred`` / ``gold`` index the per-label lists (sorted labels), ``-1`` for
        an empty stand-in. Both sides empty gives one pair with IoU 1 (empty union).
    """
    matching = Matching(matching)
    p_by, g_by = union_by_label(pred), union_by_label(gold)
    p_keys, g_keys = sorted(p_by), sorted(g_by)
    p_masks, g_masks = [p_by[k] for k in p_keys], [g_by[k] for k in g_keys]
    h, w = _size_of(p_masks, g_masks)
    empty = Mask.empty(h, w)
    if not p_masks and not g_masks:
        return [PairIoU(-1, -1, 1.0, 0, 0)]
    if matching is Matching.UNION:
        pu = Mask.union(p_masks) if p_masks else empty
        gu = Mask.union(g_masks) if g_masks else empty
        return [_score(pu, gu, 0, 0)]
    if matching is Matching.PAIRED:
        out = []
        for key in sorted(set(p_keys) | set(g_keys)):
            i = p_keys.index(key) if key in p_by else -1
            j = g_keys.index(key) if key in g_by else -1
            out.append(_score(p_by.get(key, empty), g_by.get(key, empty), i, j))
        return out
    if not p_masks or not g_masks:
        return [_score(m, empty, i, -1) for i, m in enumerate(p_masks)] + [
            _score(empty, m, -1, j) for j, m in enumerate(g_masks)
        ]
    mat = iou_matrix(p_masks, g_masks)
    if matching is Matching.GREEDY:
        pairs = _greedy(mat, stop_at_zero=False)
    else:
        rows, cols = linear_sum_assignment(mat, maximize=True)
        pairs = list(zip(rows.tolist(), cols.tolist(), strict=True))
    return [_score(p_masks[i], g_masks[j], i, j) for i, j in pairs]


def split_by_image(
    pred: Sequence[PartMask], gold: Sequence[PartMask], n_images: int | None = None
) -> list[ImagePair]:
    """Split one item's masks into per-image ``(pred, gold)`` pairs by ``image_index``.

    Args:
        pred, gold: the item's masks (any images).
        n_images: number of images of the item; images without any mask are kept (and score
            IoU 1 under every matching). ``None``: only images that have a mask.
    """
    idx = {m.image_index for m in [*pred, *gold]}
    if n_images is not None:
        idx |= set(range(n_images))
    return [
        ([m for m in pred if m.image_index == k], [m for m in gold if m.image_index == k])
        for k in sorted(idx)
    ]


# -- Partonomy -------------------------------------------------------------------------------


def giou(
    images: Sequence[ImagePair],
    matching: Matching | str = Matching.PAIRED,
    reduction: Reduction | str = Reduction.MACRO,
) -> float:
    """Partonomy's gIoU (GLaMM-style mean IoU) over a list of images.

    Args:
        images: per image ``(pred, gold)`` mask lists (see :func:`split_by_image` for items).
        matching: pairing of masks within an image.
        reduction: MACRO (mean per image, then over images) or MICRO (mean over all pairs).

    Returns:
        Mean IoU in ``[0, 1]``; NaN for no images.
    """
    reduction = Reduction(reduction)
    per_image = [match_image(p, g, matching) for p, g in images]
    if reduction is Reduction.MACRO:
        return mean(mean(x.iou for x in pairs) for pairs in per_image)
    return mean(x.iou for pairs in per_image for x in pairs)


def ciou(images: Sequence[ImagePair], matching: Matching | str = Matching.PAIRED) -> float:
    """Cumulative IoU: sum of intersections / sum of unions over every matched pair of the dataset.

    Returns 1.0 when every union is empty, NaN for no images.
    """
    pairs = [x for p, g in images for x in match_image(p, g, matching)]
    if not pairs:
        return float("nan")
    union = sum(x.union for x in pairs)
    return 1.0 if union == 0 else sum(x.intersection for x in pairs) / union


def multiple_choice_accuracy(predicted: Sequence[int], correct: Sequence[int]) -> float:
    """Fraction of items whose chosen index equals the correct one (NaN for no items)."""
    if len(predicted) != len(correct):
        raise ValueError(f"{len(predicted)} predictions for {len(correct)} items")
    return mean(float(p == c) for p, c in zip(predicted, correct, strict=True))


def _label_matches(
    pred: list[str],
    gold: list[str],
    mode: str,
    threshold: float,
    assignment: str,
    similarity: Similarity | None,
) -> int:
    if mode == "exact":
        return len(set(pred) & set(gold))
    if not pred or not gold:
        return 0
    sim = _similarity_matrix(pred, gold, similarity)
    if assignment == "hungarian":
        rows, cols = linear_sum_assignment(sim, maximize=True)
        return int(sum(sim[i, j] >= threshold for i, j in zip(rows, cols, strict=True)))
    masked = np.where(sim >= threshold, sim, 0.0)
    return len(_greedy(masked, stop_at_zero=True))


def part_prf(
    pred: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    match: str = "exact",
    threshold: float = 0.75,
    assignment: str = "hungarian",
    similarity: Similarity | None = None,
) -> PRF:
    """Part-name precision / recall / F1, micro-summed over items.

    Labels are normalised (:func:`normalize_label`) and deduplicated per item.

    Args:
        pred, gold: per item, the predicted and gold part names.
        match: ``"exact"`` (set match, the default) or ``"embedding"`` (MiniLM cosine >= threshold,
            one-to-one).
        threshold: cosine threshold of embedding matching.
        assignment: ``"hungarian"`` or ``"greedy"`` one-to-one assignment for embedding matching.
        similarity: ``f(a, b) -> cosine``; defaults to the offline MiniLM.
    """
    if match not in ("exact", "embedding") or assignment not in ("hungarian", "greedy"):
        raise ValueError(f"unknown match {match!r} / assignment {assignment!r}")
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} items")
    tp = fp = fn = 0
    for p, g in zip(pred, gold, strict=True):
        ps = sorted({normalize_label(x) for x in p})
        gs = sorted({normalize_label(x) for x in g})
        k = _label_matches(ps, gs, match, threshold, assignment, similarity)
        tp, fp, fn = tp + k, fp + len(ps) - k, fn + len(gs) - k
    precision = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * rec / (precision + rec) if precision + rec else 0.0
    return PRF(precision, rec, f1, tp, fp, fn)


# -- Calico / MixedParts ---------------------------------------------------------------------


def _coco_quiet(fn: Callable[[], Any]) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def ap50(images: Sequence[ImagePair]) -> float:
    """Class-agnostic COCO segm AP at IoU 0.5 (pycocotools ``COCOeval``), as Calico reports it.

    Every mask is one category; a :class:`PartMask` prediction's ``score`` ranks it (plain masks
    score 1.0). Gold masks are not unioned per label (COCO instances).

    Args:
        images: per image ``(pred, gold)``; every image is one COCO image.

    Returns:
        AP50 in ``[0, 1]``; 0.0 when there are gold masks and no predictions, NaN when there is
        no gold mask at all.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco_images: list[dict[str, Any]] = []
    gt: list[dict[str, Any]] = []
    dt: list[dict[str, Any]] = []
    for img_id, (pred, gold) in enumerate(images, start=1):
        h, w = _size_of([_mask(m) for m in gold], [_mask(m) for m in pred])
        coco_images.append({"id": img_id, "height": h, "width": w})
        for g in gold:
            m = _mask(g)
            gt.append(
                {
                    "id": len(gt) + 1,
                    "image_id": img_id,
                    "category_id": 1,
                    "iscrowd": 0,
                    "segmentation": m.to_coco(),
                    "area": float(m.area),
                    "bbox": list(m.bbox()),
                }
            )
        for p in pred:
            score = p.score if isinstance(p, PartMask) else 1.0
            dt.append(
                {
                    "image_id": img_id,
                    "category_id": 1,
                    "segmentation": _mask(p).to_coco(),
                    "score": float(score),
                }
            )
    if not gt:
        return float("nan")
    if not dt:
        return 0.0
    coco_gt = COCO()
    coco_gt.dataset = {"images": coco_images, "annotations": gt, "categories": [{"id": 1, "name": "part"}]}
    _coco_quiet(coco_gt.createIndex)
    coco_dt = _coco_quiet(lambda: coco_gt.loadRes(dt))
    ev = COCOeval(coco_gt, coco_dt, iouType="segm")

    def run() -> None:
        ev.evaluate()
        ev.accumulate()
        ev.summarize()

    _coco_quiet(run)
    return max(0.0, float(ev.stats[1]))


def _greedy_pairs(pred: Sequence[MaskLike], gold: Sequence[MaskLike]) -> list[tuple[int, int, float]]:
    """GLaMM's mIoU matching: take the max IoU, delete its row and column, stop when it is 0."""
    if not pred or not gold:
        return []
    mat = iou_matrix(pred, gold)
    return [(i, j, float(mat[i, j])) for i, j in _greedy(mat, stop_at_zero=True)]


def miou(images: Sequence[ImagePair]) -> float:
    """Calico / GLaMM mIoU: per image, mean IoU of the greedy one-to-one matches (0 if none);
    mean over images. Masks are not unioned per label. NaN for no images."""
    return mean(mean((x[2] for x in _greedy_pairs(p, g)), empty=0.0) for p, g in images)


def minilm_similarity(a: str, b: str) -> float:
    """Cosine similarity of the offline MiniLM sentence embeddings of two labels."""
    from mereo.text import get_encoder

    return get_encoder().similarity(a, b)


def _labels(ms: Sequence[MaskLike]) -> list[str]:
    return [m.label if isinstance(m, PartMask) else "" for m in ms]


def recall(
    images: Sequence[ImagePair],
    iou_threshold: float = 0.5,
    label_threshold: float = 0.5,
    mode: RecallMode | str = RecallMode.STOP,
    similarity: Similarity | None = None,
) -> float:
    """Calico / GLaMM Recall: true positives / number of gold masks.

    Per image, gold x pred pairs are taken greedily in decreasing IoU; a pair is a true positive
    when IoU >= ``iou_threshold`` and label similarity >= ``label_threshold`` (both inclusive;
    GLaMM's code uses strict ``>``). With ``mode=STOP`` (default, GLaMM) matching of the image
    stops at the first failing pair; with ``SKIP`` that pair is dropped and matching goes on.

    Args:
        images: per image ``(pred, gold)`` PartMask lists.
        similarity: label similarity ``f(pred, gold)``; defaults to MiniLM cosine.
    """
    mode = RecallMode(mode)
    sim = similarity or minilm_similarity
    tp = total = 0
    for pred, gold in images:
        total += len(gold)
        if not pred or not gold:
            continue
        ious = iou_matrix(gold, pred)
        sims = np.array(
            [[sim(normalize_label(p), normalize_label(g)) for p in _labels(pred)] for g in _labels(gold)]
        )
        for i, j in _greedy(ious, stop_at_zero=True):
            if ious[i, j] >= iou_threshold and sims[i, j] >= label_threshold:
                tp += 1
            elif mode is RecallMode.STOP:
                break
    return tp / total if total else float("nan")


def _similarity_matrix(a: Sequence[str], b: Sequence[str], similarity: Similarity | None) -> np.ndarray:
    if similarity is None:
        from mereo.text import get_encoder

        enc = get_encoder()
        return np.clip(enc.encode(list(a)) @ enc.encode(list(b)).T, -1.0, 1.0).astype(np.float64)
    return np.array([[similarity(x, y) for y in b] for x in a], dtype=np.float64)


def _matched_labels(images: Sequence[ImagePair]) -> list[tuple[str, str]]:
    out = []
    for pred, gold in images:
        pl, gl = _labels(pred), _labels(gold)
        out += [(normalize_label(pl[i]), normalize_label(gl[j])) for i, j, _ in _greedy_pairs(pred, gold)]
    return out


def semantic_similarity(images: Sequence[ImagePair], similarity: Similarity | None = None) -> float:
    """SS: mean cosine similarity of (pred label, gold label) over the mIoU-matched mask pairs
    (MiniLM sentence embeddings, as Osprey). NaN when nothing matched."""
    pairs = _matched_labels(images)
    if not pairs:
        return float("nan")
    if similarity is None:
        from mereo.text import get_encoder

        enc = get_encoder()
        a, b = enc.encode([p for p, _ in pairs]), enc.encode([g for _, g in pairs])
        return float(np.mean(np.sum(a * b, axis=1)))
    return mean(similarity(p, g) for p, g in pairs)


def _words(label: str) -> set[str]:
    return set(re.sub(r"[_:,.]", " ", label.lower()).split())


def siou(images: Sequence[ImagePair]) -> float:
    """S-IoU: mean word Jaccard of (pred label, gold label) over the mIoU-matched pairs."""
    vals = []
    for p, g in _matched_labels(images):
        wp, wg = _words(p), _words(g)
        vals.append(1.0 if not (wp | wg) else len(wp & wg) / len(wp | wg))
    return mean(vals)


# -- multi-step items and plans --------------------------------------------------------------


def answer_set_f1(pred: Iterable[str], gold: Iterable[str]) -> float:
    """F1 of the normalised predicted label set against the gold set (both empty -> 1.0)."""
    ps, gs = {normalize_label(x) for x in pred}, {normalize_label(x) for x in gold}
    if not ps and not gs:
        return 1.0
    return 2 * len(ps & gs) / (len(ps) + len(gs))


def exact_set_match(pred: Iterable[str], gold: Iterable[str]) -> float:
    """1.0 when the normalised label sets are equal, else 0.0."""
    return float({normalize_label(x) for x in pred} == {normalize_label(x) for x in gold})


COMMUTATIVE = frozenset({"intersect", "union", "symmetric_difference"})


def _to_plain(expr: Any) -> Any:
    if hasattr(expr, "model_dump"):
        return expr.model_dump(exclude_none=True)
    return expr


def normalize_expr(expr: Any) -> Any:
    """A canonical form of a set expression (see :mod:`mereo.data.items`).

    Keys with ``None`` values are dropped, names are normalised, ``images`` lists are sorted,
    nested same-op commutative nodes are flattened and their arguments sorted, so two
    expressions that only differ in the order of commutative arguments compare equal. A Plan (or
    any dict holding ``"expr"``) is reduced to its expression.
    """
    expr = _to_plain(expr)
    if isinstance(expr, Mapping) and "expr" in expr and "op" not in expr:
        expr = _to_plain(expr["expr"])
    if isinstance(expr, (list, tuple)):
        return [normalize_expr(x) for x in expr]
    if not isinstance(expr, Mapping):
        return normalize_label(expr) if isinstance(expr, str) else expr
    out: dict[str, Any] = {}
    for k, v in expr.items():
        if v is None:
            continue
        if k == "args":
            continue
        if k == "images" and isinstance(v, (list, tuple)):
            out[k] = sorted(v)
        else:
            out[k] = normalize_expr(v)
    if "args" in expr:
        args = [normalize_expr(a) for a in expr["args"] or []]
        op = out.get("op")
        if op in COMMUTATIVE:
            flat: list[Any] = []
            for a in args:
                flat.extend(a["args"] if isinstance(a, dict) and a.get("op") == op else [a])
            args = sorted(flat, key=lambda a: json.dumps(a, sort_keys=True, default=str))
        out["args"] = args
    return out


def plan_match(pred: Any, gold: Any) -> float:
    """Plan accuracy of one item: 1.0 when the normalised expression trees are equal."""
    try:
        return float(normalize_expr(pred) == normalize_expr(gold))
    except (TypeError, AttributeError):
        return 0.0
