"""Metrics of the reference benchmarks (Partonomy / PLUM, Calico / MixedParts) and of multi-step items.

- :mod:`mereo.metrics.masks`: gIoU, cIoU, AP50, mIoU, Recall and the mask matching they use.
- :mod:`mereo.metrics.labels`: part P/R/F1, multiple-choice accuracy, SS, S-IoU, answer sets.
- :mod:`mereo.metrics.plans`: the canonical form of set expressions and plan accuracy.
- :mod:`mereo.metrics.common`: the mean, greedy matching, the label key, MiniLM similarity.

Every public name is re-exported here: ``from mereo.metrics import giou``.
"""

from __future__ import annotations

from mereo.metrics.common import Similarity, casefold_label, mean, minilm_similarity
from mereo.metrics.labels import (
    PRF,
    answer_set_f1,
    exact_set_match,
    multiple_choice_accuracy,
    part_prf,
    semantic_similarity,
    siou,
)
from mereo.metrics.masks import (
    ImagePair,
    MaskLike,
    Matching,
    PairIoU,
    RecallMode,
    Reduction,
    ap50,
    ciou,
    giou,
    iou_matrix,
    match_image,
    miou,
    recall,
    split_by_image,
    union_by_label,
)
from mereo.metrics.plans import COMMUTATIVE, normalize_expr, plan_match

__all__ = [
    "COMMUTATIVE",
    "ImagePair",
    "MaskLike",
    "Matching",
    "PRF",
    "PairIoU",
    "RecallMode",
    "Reduction",
    "Similarity",
    "answer_set_f1",
    "ap50",
    "casefold_label",
    "ciou",
    "exact_set_match",
    "giou",
    "iou_matrix",
    "match_image",
    "mean",
    "minilm_similarity",
    "miou",
    "multiple_choice_accuracy",
    "normalize_expr",
    "part_prf",
    "plan_match",
    "recall",
    "semantic_similarity",
    "siou",
    "split_by_image",
    "union_by_label",
]
