"""Label metrics: part P/R/F1, multiple choice, SS, S-IoU and answer sets, worked out by hand."""

from __future__ import annotations

import pytest

from mereo import metrics as M
from tests.metrics.strips import exact, strip


def test_multiple_choice_accuracy():
    assert M.multiple_choice_accuracy([0, 1, 2], [0, 1, 3]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        M.multiple_choice_accuracy([0], [0, 1])


def test_part_prf_exact_micro_summed():
    r = M.part_prf([["Seat", "leg", "arm"], []], [["seat", "leg", "back"], ["wheel"]])
    assert (r.tp, r.fp, r.fn) == (2, 1, 2)
    assert r.precision == pytest.approx(2 / 3)
    assert r.recall == pytest.approx(0.5)
    assert r.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_part_prf_embedding_with_table_and_minilm():
    table = {("legs", "leg"): 0.9, ("seat", "leg"): 0.2, ("legs", "seat"): 0.3, ("seat", "seat"): 1.0}

    def sim(a: str, b: str) -> float:
        return table.get((a, b), 0.0)

    for assignment in ("hungarian", "greedy"):
        r = M.part_prf(
            [["legs", "seat"]], [["leg", "seat"]], match="embedding", assignment=assignment, similarity=sim
        )
        assert (r.tp, r.fp, r.fn) == (2, 0, 0)
    assert M.part_prf([["legs", "seat"]], [["leg", "seat"]]).tp == 1
    # the real MiniLM: "legs"~"leg" is close (> 0.75), "wheel"~"seat" is not
    r = M.part_prf([["legs", "wheel"]], [["leg", "seat"]], match="embedding")
    assert (r.tp, r.fp, r.fn) == (1, 1, 1)


def test_semantic_similarity_and_siou():
    gold = [strip(range(10), "back_rest"), strip(range(10, 20), "leg")]
    pred = [strip(range(10), "back rest, upper"), strip(range(10, 20), "chair:leg")]
    images = [(pred, gold)]
    # words {back, rest, upper} vs {back, rest}: 2/3; {chair, leg} vs {leg}: 1/2
    assert M.siou(images) == pytest.approx((2 / 3 + 0.5) / 2)
    assert M.semantic_similarity(images, similarity=exact) == 0.0
    assert M.semantic_similarity([([gold[1]], [gold[1]])]) == pytest.approx(1.0, abs=1e-5)
    ss = M.semantic_similarity(images)
    assert 0.5 < ss < 1.0


def test_answer_sets():
    assert M.answer_set_f1(["Seat", "leg"], ["leg", "back"]) == pytest.approx(0.5)
    assert M.answer_set_f1([], []) == 1.0
    assert M.answer_set_f1(["a"], []) == 0.0
    assert M.exact_set_match(["Back_Rest", "leg"], ["leg", "back rest"]) == 1.0
    assert M.exact_set_match(["leg"], ["leg", "seat"]) == 0.0
