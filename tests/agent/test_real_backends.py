"""From the agent to an Answer with the full-size backends (SAM 3, OWLv2, Grounding DINO, a local VLM),
each a tiny random checkpoint in the transformers format; and the presets that name them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mereo
from mereo.agent.agent import PartAgent
from mereo.agent.answer import Answer
from mereo.config import PRESETS
from mereo.errors import CheckpointError, ValidationError
from mereo.knowledge import PartHierarchy


def _image(seed: int = 0) -> np.ndarray:
    return (np.random.RandomState(seed).rand(48, 64, 3) * 255).astype(np.uint8)


def _vlm_sam3_agent(vlm: Path, sam3: Path, verify: bool = True) -> PartAgent:
    """The tiny local VLM planning over tiny SAM 3 (every threshold passed), on the CPU."""
    return PartAgent(
        lmm=f"transformers:{vlm}",
        segment=f"sam3:model={sam3},threshold=0.0",
        coseg="none",
        correspond="none",
        device="cpu",
        verify=verify,
    )


def test_list_backends_shows_them() -> None:
    found = mereo.list_backends()
    assert "sam3" in found["segment"]
    assert {"owlv2", "grounding-dino"} <= set(found["recognize"])
    assert "transformers" in found["lmm"]


def test_local_planner_and_sam3_answer_a_question(tiny_vlm_planner: Path, tiny_sam3: Path) -> None:
    # random weights: the presence check rightly finds no chair (tested below)
    agent = _vlm_sam3_agent(tiny_vlm_planner, tiny_sam3, verify=False)
    ans = agent.ask("What parts does the chair have?", images=[_image()])
    assert isinstance(ans, Answer)
    assert ans.plan.notes[-1].startswith("planned by transformers:")
    chair_parts = set(PartHierarchy.default().parts_of("chair"))
    assert ans.labels and set(ans.labels) <= chair_parts
    assert all(p.source.startswith("segment:sam3:") for p in ans.parts)
    assert len(ans.parts) > len(ans.labels)  # several instances per part
    steps = [s.node for s in ans.trace]
    assert steps[0] == "understand" and "segment" in steps


@pytest.mark.parametrize("recognizer", ["owlv2", "grounding-dino"])
def test_recognised_objects_box_the_sam3_prompts(
    recognizer: str, tiny_owlv2: Path, tiny_grounding_dino: Path, tiny_sam3: Path
) -> None:
    folder = tiny_owlv2 if recognizer == "owlv2" else tiny_grounding_dino
    agent = PartAgent(
        lmm="offline",
        recognize=f"{recognizer}:{folder}",
        segment=f"sam3:model={tiny_sam3},threshold=0.0",
        coseg="none",
        correspond="none",
        device="cpu",
    )
    ans = agent.ask("What parts does the object in the image have?", images=[_image(1)])
    assert isinstance(ans, Answer)
    rec = [s for s in ans.trace if s.node == "recognize"]
    assert rec and rec[0].backend.startswith(recognizer)
    obj = rec[0].outputs["objects"][0][0]
    seg = [s for s in ans.trace if s.node == "segment"]
    assert seg and seg[0].inputs["object"] == obj
    # SAM 3 looked inside the recognised object's box: its features were computed for a crop
    assert any("crop" in e.get("what", "") for e in agent.tool_ctx.events if e.get("tool") == "segment")


def test_photos_preset_names_every_missing_model() -> None:
    with pytest.raises(CheckpointError) as info:
        PartAgent.preset("photos")
    msg = str(info.value)
    for needed in ("facebook/sam3", "google/owlv2-base-patch16-ensemble", "facebook/dinov2-base"):
        assert needed in msg
    assert "Qwen/Qwen2.5-VL-3B-Instruct" in msg and msg.count("huggingface-cli download") == 4


def test_presets_build_with_local_weights(tiny_vlm_planner: Path, tiny_sam3: Path, tiny_owlv2: Path) -> None:
    agent = PartAgent.preset(
        "photos",
        lmm=f"transformers:{tiny_vlm_planner}",
        segment=f"sam3:{tiny_sam3}",
        recognize=f"owlv2:{tiny_owlv2}",
        correspond="none",
        device="cpu",
    )
    assert agent.config.coseg == "per-image" and agent.config.segment == f"sam3:{tiny_sam3}"
    assert PartAgent.preset("default").config.backends() == PRESETS["default"]
    with pytest.raises(ValidationError, match="unknown preset"):
        PartAgent.preset("pictures")


def test_uncalibrated_random_backends_abstain(tiny_vlm_planner: Path, tiny_sam3: Path) -> None:
    """With verification on, evidence from random weights does not pass the presence check: the
    answer says it could not find the object instead of listing parts."""
    agent = _vlm_sam3_agent(tiny_vlm_planner, tiny_sam3)
    ans = agent.ask("What parts does the chair have?", images=[_image()])
    assert ans.labels == [] and "could not find a chair" in ans.text
    assert any(s.node == "verify" for s in ans.trace)
