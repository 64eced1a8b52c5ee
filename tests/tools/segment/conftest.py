"""Fixtures shared by the segment tests: a tiny PLUM configuration, a seeded random model of it,
and a tiny SynthParts training set at its resolution."""

from __future__ import annotations

import pytest
import torch

from mereo.tools.segment.model import PlumConfig, PlumSmall


@pytest.fixture(scope="session")
def tiny_config() -> PlumConfig:
    """PLUM-small shrunk to 64-pixel images and 32-wide embeddings (a model of ~0.2 M weights)."""
    return PlumConfig(image_size=64, embed_dim=32, span_hidden=32, decoder_mlp=64, encoder_channels=(8, 16))


@pytest.fixture(scope="module")
def random_plum(tiny_config: PlumConfig) -> PlumSmall:
    """A randomly initialised tiny model (torch seed 0), in eval mode."""
    torch.manual_seed(0)
    return PlumSmall(tiny_config).eval()


@pytest.fixture(scope="module")
def tiny_set():
    """Six 64-pixel SynthParts train scenes as a segment training set (MiniLM tokens included)."""
    from mereo.data.synthparts import PART_LABELS, generate_scenes
    from mereo.tools.segment.training.data import build_set

    return build_set(
        generate_scenes("train", 6, seed=5, size=64), sorted(PART_LABELS), seed=1, size=64, progress=False
    )
