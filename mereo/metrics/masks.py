"""Mask metrics of the reference benchmarks: gIoU and cIoU (Partonomy / PLUM), AP50, mIoU and
Recall (Calico / GLaMM), and the matching of predicted to gold masks they rest on.

Every metric is a small function over :class:`mereo.types.PartMask` (or :class:`mereo.types.Mask`)
lists, following the papers' protocols as each docstring states; where the references disagree
the choice is a named option and the default is documented.

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
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from mereo.metrics.common import Similarity, casefold_label, greedy_match, mean, minilm_similarity
from mereo.types import Mask, PartMask

MaskLike = Mask | PartMask
#: One image's predictions and gold masks.
ImagePair = tuple[Sequence[MaskLike], Sequence[MaskLike]]


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


# -- matching ------------------------------------------------------------------------------


def _mask(m: MaskLike) -> Mask:
    return m.mask if isinstance(m, PartMask) else m


def union_by_label(masks: Sequence[MaskLike]) -> dict[str, Mask]:
    """One mask per label: instances that share a (normalised) name are unioned.

    Plain :class:`Mask` items keep their position as their label (``"0"``, ``"1"``, ...).
    """
    groups: dict[str, list[Mask]] = defaultdict(list)
    for i, m in enumerate(masks):
        key = casefold_label(m.label) if isinstance(m, PartMask) else str(i)
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
        pairs = greedy_match(mat, stop_at_zero=False)
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


def miou_matches(pred: Sequence[MaskLike], gold: Sequence[MaskLike]) -> list[tuple[int, int, float]]:
    """GLaMM's mIoU matching: take the max IoU, delete its row and column, stop when it is 0.

    Returns:
        ``(pred index, gold index, IoU)`` per matched pair; ``[]`` when a side is empty.
    """
    if not pred or not gold:
        return []
    mat = iou_matrix(pred, gold)
    return [(i, j, float(mat[i, j])) for i, j in greedy_match(mat, stop_at_zero=True)]


def miou(images: Sequence[ImagePair]) -> float:
    """Calico / GLaMM mIoU: per image, mean IoU of the greedy one-to-one matches (0 if none);
    mean over images. Masks are not unioned per label. NaN for no images."""
    return mean(mean((x[2] for x in miou_matches(p, g)), empty=0.0) for p, g in images)


def mask_labels(ms: Sequence[MaskLike]) -> list[str]:
    """Each mask's label (``""`` for a plain :class:`Mask`)."""
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
            [
                [sim(casefold_label(p), casefold_label(g)) for p in mask_labels(pred)]
                for g in mask_labels(gold)
            ]
        )
        for i, j in greedy_match(ious, stop_at_zero=True):
            if ious[i, j] >= iou_threshold and sims[i, j] >= label_threshold:
                tp += 1
            elif mode is RecallMode.STOP:
                break
    return tp / total if total else float("nan")
