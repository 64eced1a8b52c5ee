"""The blind baseline and the multiple-choice chooser of the eval predictors."""

from __future__ import annotations

from pathlib import Path

from mereo.evals.predictors import BlindPredictor
from mereo.knowledge import PartHierarchy
from tests.evals.evalfixtures import make_items


def test_blind_predictor_answers_from_taxonomy(tmp_path: Path):
    kb = PartHierarchy.default()
    items = make_items(tmp_path)
    blind = BlindPredictor()
    p = blind.predict(items[1])
    assert p.labels == sorted(set(kb.parts_of("chair")) & set(kb.parts_of("stool")))
    assert p.parts == []
    assert blind.evaluate(
        {
            "op": "difference",
            "args": [{"op": "kb_parts", "object": "chair"}, {"op": "kb_parts", "object": "stool"}],
        }
    ) == set(kb.parts_of("chair")) - set(kb.parts_of("stool"))
    assert blind.evaluate({"op": "whole_to_part", "image": 0}) == set()
