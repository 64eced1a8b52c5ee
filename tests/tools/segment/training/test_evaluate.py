"""``mereo eval segment``: items, metrics per question type, the table."""

from __future__ import annotations

import pytest

from mereo.cache import FeatureCache
from mereo.tools.base import ToolContext
from mereo.tools.segment import build
from mereo.tools.segment.training.evaluate import (
    TYPES,
    evaluate_backend,
    format_table,
    load_eval_set,
    make_items,
)


@pytest.fixture(scope="module")
def eval_set():
    scenes, images, golds = load_eval_set("test", 5, seed=2)
    ctx = ToolContext(FeatureCache())
    ctx.gold.update({img.sha256: g for img, g in zip(images, golds, strict=True)})
    return scenes, images, golds, ctx


def test_items_cover_every_type_and_are_seeded(eval_set) -> None:
    scenes, _, golds, _ = eval_set
    items = make_items(scenes, golds, seed=0)
    assert {it.qtype for it in items} >= {"identification", "description"}
    assert [it.text for it in items] == [it.text for it in make_items(scenes, golds, seed=0)]
    for it in items:
        assert it.gold and all(p.kind == "part" and p.object == it.object for p in it.gold)
        assert all(it.text[a:b] for a, b in it.spans)
        assert it.n_objects == len(scenes[it.scene].objects)
        if it.qtype == "identification":
            assert {p.label for p in it.gold} == {it.text[a:b] for a, b in it.spans}


def test_oracle_scores_one_and_whole_object_less(eval_set) -> None:
    scenes, images, golds, ctx = eval_set
    items = make_items(scenes, golds, seed=0)
    oracle = evaluate_backend(build("oracle", ctx), items, images, progress=False, all_matchings=True)
    whole = evaluate_backend(build("whole-object", ctx), items, images, progress=False)
    for qtype in [*TYPES, "all"]:
        if qtype in oracle:
            assert oracle[qtype]["giou_macro"] == pytest.approx(1.0)
            assert oracle[qtype]["ciou"] == pytest.approx(1.0)
    assert whole["identification"]["giou_macro"] < 0.6
    assert whole["all"]["giou_micro"] < oracle["all"]["giou_micro"]
    counts = {k: v for k, v in whole.items() if k.startswith("scene: ")}
    assert counts and sum(v["n"] for v in counts.values()) == whole["all"]["n"]
    assert all(oracle[k]["giou_macro"] == pytest.approx(1.0) for k in counts)
    table = format_table({"oracle": oracle, "whole-object": whole})
    assert "identification" in table and "whole-object" in table and "giou_macro_hungarian" in table
