"""Mask metrics on hand-made masks whose values are worked out by hand in the comments."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from mereo import metrics as M
from mereo.types import Mask, PartMask
from tests.metrics.strips import A, B, W, X, Y, exact, strip


def test_iou_matrix_values():
    mat = M.iou_matrix([A, B], [X, Y])
    np.testing.assert_allclose(mat, [[10 / 15, 5 / 20], [0.5, 0.0]])


def test_giou_matchings_differ_as_worked_out():
    images = [([A, B], [X, Y])]
    # greedy takes A-X (0.667) then B-Y (0): mean 1/3
    assert M.giou(images, "greedy") == pytest.approx((10 / 15 + 0) / 2)
    # hungarian prefers A-Y + B-X = 0.25 + 0.5 over 0.667 + 0
    assert M.giou(images, M.Matching.HUNGARIAN) == pytest.approx((5 / 20 + 0.5) / 2)
    # union: 0..14 against 0..19
    assert M.giou(images, "union") == pytest.approx(15 / 20)
    # paired by label: labels a, b, x, y never meet, four pairs against empty masks
    assert M.giou(images, "paired") == 0.0


def test_giou_paired_by_label_unions_instances_first():
    gold = [strip(range(0, 3), "leg"), strip(range(5, 8), "leg"), strip(range(10, 20), "seat")]
    pred = [strip([0, 1, 2, 5, 6, 7], "Leg"), strip(range(10, 15), "seat"), strip([19], "wheel")]
    # leg: 6/6 = 1, seat: 5/10, wheel vs nothing: 0
    assert M.giou([(pred, gold)]) == pytest.approx((1 + 0.5 + 0) / 3)
    pairs = M.match_image(pred, gold)
    assert sorted(round(p.iou, 3) for p in pairs) == [0.0, 0.5, 1.0]


def test_giou_empty_union_is_one_and_missing_part_zero():
    assert M.giou([([], [])]) == 1.0
    assert M.giou([([], [X])], "greedy") == 0.0
    assert M.giou([([A], [])], "hungarian") == 0.0
    empty = PartMask(label="x", mask=Mask.empty(1, W))
    assert M.giou([([empty], [empty])]) == 1.0


def test_giou_macro_vs_micro():
    img1 = ([strip(range(10), "x")], [X, Y])  # x: 1.0, y: 0.0
    img2 = ([strip(range(10), "x")], [X])  # 1.0
    assert M.giou([img1, img2], reduction="macro") == pytest.approx((0.5 + 1.0) / 2)
    assert M.giou([img1, img2], reduction="micro") == pytest.approx(2 / 3)


def test_split_by_image_and_ciou():
    pred = [strip(range(10), "x", 0), strip(range(5), "z", 1)]
    gold = [strip(range(20), "x", 0), strip(range(5), "z", 1)]
    images = M.split_by_image(pred, gold, n_images=3)
    assert [len(p) for p, _ in images] == [1, 1, 0]
    # image 0: I=10 U=20, image 1: I=5 U=5, image 2: empty (I=0, U=0)
    assert M.ciou(images) == pytest.approx(15 / 25)
    assert M.giou(images) == pytest.approx((0.5 + 1.0 + 1.0) / 3)


def _pycocotools_ap50(images):
    """AP50 straight from pycocotools, built independently of the metric under test."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO()
    anns, dets, imgs = [], [], []
    for k, (pred, gold) in enumerate(images):
        imgs.append({"id": 100 + k, "height": 1, "width": W})
        for g in gold:
            rle = g.mask.to_coco()
            anns.append(
                {
                    "id": len(anns) + 7,
                    "image_id": 100 + k,
                    "category_id": 3,
                    "iscrowd": 0,
                    "segmentation": rle,
                    "area": g.mask.area,
                    "bbox": list(g.mask.bbox()),
                }
            )
        for p in pred:
            dets.append(
                {"image_id": 100 + k, "category_id": 3, "segmentation": p.mask.to_coco(), "score": p.score}
            )
    gt.dataset = {"images": imgs, "annotations": anns, "categories": [{"id": 3, "name": "thing"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[1])


def test_ap50_equals_pycocotools_and_edge_cases():
    images = [
        (
            [
                strip(range(10), "x", score=0.9),
                strip(range(15, 20), "q", score=0.8),
                strip([0, 1], "r", score=0.95),
            ],
            [X, Y],
        ),
        (
            [strip(range(4), "x", score=0.7), strip(range(8, 16), "y", score=0.6)],
            [strip(range(5), "a"), strip(range(10, 16), "b"), strip(range(17, 20), "c")],
        ),
    ]
    value = M.ap50(images)
    assert value == pytest.approx(_pycocotools_ap50(images))
    assert 0.0 < value < 1.0
    assert M.ap50([([X, Y], [X, Y])]) == pytest.approx(1.0)
    assert M.ap50([([], [X])]) == 0.0
    assert np.isnan(M.ap50([([X], [])]))


def test_miou_greedy_stops_at_zero():
    # image 1: A-X 0.667 then only B-Y (0) is left -> stop; image 2: no prediction -> 0
    assert M.miou([([A, B], [X, Y]), ([], [X])]) == pytest.approx((10 / 15 + 0.0) / 2)


def test_recall_stop_versus_skip():
    gold = [strip(range(10), "seat"), strip(range(10, 19), "leg")]
    pred = [strip(range(10), "wheel"), strip(range(10, 16), "leg")]  # IoUs 1.0 (wrong label), 6/9
    images = [(pred, gold)]
    assert M.recall(images, similarity=exact) == 0.0  # GLaMM: the first pair fails, stop
    assert M.recall(images, mode="skip", similarity=exact) == pytest.approx(0.5)
    # IoU threshold: 6/9 passes 0.5, not 0.7
    assert M.recall([([pred[1]], [gold[1]])], iou_threshold=0.7, similarity=exact) == 0.0
    # default similarity is MiniLM: identical labels match
    assert M.recall([([pred[1]], gold)]) == pytest.approx(0.5)
