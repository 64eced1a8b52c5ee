"""Session-wide fixtures: tiny randomly initialised transformers checkpoints (see tests/tiny_models.py).

Each folder is written once per test session, on first use, under pytest's temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import tiny_models


@pytest.fixture(scope="session")
def real_format() -> Path:
    """``tests/fixtures/real_format``: tiny Partonomy-core, MixedParts and COCO-parts files and images."""
    return Path(__file__).resolve().parent / "fixtures" / "real_format"


@pytest.fixture(autouse=True, scope="session")
def _hub_offline() -> Iterator[None]:
    """No test reaches the Hugging Face hub (the Makefile sets the same)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_sam3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.save_tiny_sam3(tmp_path_factory.mktemp("sam3"))


@pytest.fixture(scope="session")
def tiny_owlv2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.save_tiny_owlv2(tmp_path_factory.mktemp("owlv2"))


@pytest.fixture(scope="session")
def tiny_grounding_dino(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.save_tiny_grounding_dino(tmp_path_factory.mktemp("grounding_dino"))


@pytest.fixture(scope="session")
def tiny_vlm_planner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Qwen2-VL wired to reply with a valid plan for "the chair in image 1" (PLAN_PIECES)."""
    return tiny_models.save_tiny_vlm(tmp_path_factory.mktemp("vlm_planner"), tiny_models.PLAN_PIECES)


@pytest.fixture(scope="session")
def tiny_vlm_random(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Qwen2-VL with random weights (gibberish replies)."""
    return tiny_models.save_tiny_vlm(tmp_path_factory.mktemp("vlm_random"))
