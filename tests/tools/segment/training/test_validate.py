"""Validation of PLUM-small and the choice of its inference settings."""

from __future__ import annotations

import torch

from mereo.tools.segment.model import PlumSmall
from mereo.tools.segment.training.validate import THRESHOLDS, ZOOM_THRESHOLDS, tune_inference, validate


def test_tune_inference_tries_zoom_and_flip_and_keeps_the_best(tiny_set, tiny_config) -> None:
    torch.manual_seed(0)
    model = PlumSmall(tiny_config).eval()
    res = tune_inference(model, tiny_set)
    rows = res["grid"]
    assert len(rows) == 4 * len(THRESHOLDS) + len(ZOOM_THRESHOLDS)
    assert {(r[2], r[3]) for r in rows} == {(False, False), (True, False), (False, True)}
    assert res["val_span_miou"] == max(r[4] for r in rows)
    chosen = [r for r in rows if r[4] == res["val_span_miou"]][0]
    assert [res["threshold"], res["presence_gate"], res["zoom"], res["flip"]] == chosen[:4]
    flip_only = validate(model, tiny_set, grid=(), flip_grid=[(0.0, True)])
    assert flip_only["span_miou_flip"] == [r[4] for r in rows if r[:4] == [0.0, True, False, True]][0]
