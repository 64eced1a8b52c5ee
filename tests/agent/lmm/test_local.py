"""The transformers (local VLM) planner on tiny Qwen2-VL checkpoints saved in the transformers format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mereo.agent.lmm import build, list_backends
from mereo.agent.lmm.local import LocalLMM
from mereo.agent.lmm.structured import loads
from mereo.config import MereoConfig
from mereo.errors import CheckpointError, InvalidLMMResponseError, ValidationError
from mereo.types import ImageRef

CPU = MereoConfig(device="cpu")


def _image(seed: int = 0) -> ImageRef:
    return ImageRef((np.random.RandomState(seed).rand(40, 60, 3) * 255).astype(np.uint8))


def test_registered() -> None:
    assert "transformers" in list_backends()


def test_a_valid_reply_becomes_a_plan_in_one_call(tiny_vlm_planner: Path) -> None:
    lmm = build(f"transformers:{tiny_vlm_planner}", CPU)
    assert isinstance(lmm, LocalLMM)
    plan = lmm.plan("What parts does the chair have?", [_image()])
    assert lmm.calls == 1
    assert plan.question == "What parts does the chair have?"
    assert [(o.name, o.image) for o in plan.objects] == [("chair", 0)]
    assert plan.to_gold_format()["expr"] == {"op": "parts", "object": "chair", "image": 0}
    assert plan.notes[-1] == f"planned by transformers:{tiny_vlm_planner}"


def test_the_plan_is_checked_against_the_images(tiny_vlm_planner: Path) -> None:
    lmm = build(f"transformers:{tiny_vlm_planner}", CPU)
    with pytest.raises(InvalidLMMResponseError, match="image index 0, but there are only 0 images"):
        lmm.plan("What parts does the chair have?", [])
    assert lmm.calls == 2  # the repair round was tried


def test_gibberish_gets_a_repair_round_then_a_clear_error(tiny_vlm_random: Path) -> None:
    lmm = build(f"transformers:{tiny_vlm_random}", CPU)
    lmm.max_new_tokens = 24
    with pytest.raises(InvalidLMMResponseError, match="invalid plan twice"):
        lmm.plan("What parts does the chair have?", [_image()])
    assert lmm.calls == 2


def test_part_proposals_are_validated(tiny_vlm_planner: Path) -> None:
    lmm = build(f"transformers:{tiny_vlm_planner}", CPU)
    with pytest.raises(InvalidLMMResponseError, match="part proposal"):
        lmm.propose_parts("gizmo")  # the scripted model answers with a plan, not {"parts": [...]}
    assert lmm.calls == 2


def test_lenient_json_extraction() -> None:
    assert loads('Sure! {"parts": ["leg"]} Hope this helps.', "x", lenient=True) == {"parts": ["leg"]}
    with pytest.raises(ValidationError):
        loads('Sure! {"parts": ["leg"]}', "x")


def test_missing_model_and_missing_chat_template(tmp_path: Path, tiny_vlm_planner: Path) -> None:
    with pytest.raises(CheckpointError, match="huggingface-cli download"):
        build("transformers", CPU)
    with pytest.raises(CheckpointError, match="huggingface-cli download Qwen/Qwen2.5-VL-3B-Instruct"):
        build("transformers:Qwen/Qwen2.5-VL-3B-Instruct", CPU)
    with pytest.raises(CheckpointError, match="not found"):
        build(f"transformers:{tmp_path / 'none'}", CPU)

    class NoTemplate:
        chat_template = None

    with pytest.raises(ValidationError, match="chat template"):
        LocalLMM(str(tiny_vlm_planner), object(), NoTemplate())
