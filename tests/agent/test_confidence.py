"""Answer confidence: raw evidence and its calibrated map."""

from __future__ import annotations

import numpy as np

from mereo.agent.confidence import answer_confidence, backends_key
from mereo.config import MereoConfig
from mereo.types import Mask, PartMask


def _pm(label: str, score: float) -> PartMask:
    return PartMask(
        label=label, object="chair", mask=Mask.from_numpy(np.ones((4, 4), dtype=bool)), score=score
    )


def test_raw_confidence_overall_and_per_label_with_oracle_backends() -> None:
    cfg = MereoConfig(segment="oracle", coseg="oracle", correspond="oracle", recognize="oracle")
    assert backends_key(cfg).startswith("correspond=oracle,coseg=oracle,lmm=offline")
    result = {"parts": [_pm("seat", 0.8), _pm("leg", 0.4), _pm("leg", 0.6)], "kind": "parts", "not_found": []}
    conf = answer_confidence(result, {"chair@0": 0.5}, cfg)
    assert conf["confidence_raw"] == round((0.8 + 0.4 + 0.6) / 3 * 0.5, 4)
    assert conf["label_confidence_raw"] == {"leg": 0.25, "seat": 0.4}
    assert conf["calibrated"] is False and conf["confidence"] == conf["confidence_raw"]
    absent = answer_confidence(
        {"parts": [], "kind": "parts", "not_found": [{"object": "sofa", "image": 0}]}, {"sofa@0": 0.1}, cfg
    )
    assert absent["confidence_raw"] == 0.9
