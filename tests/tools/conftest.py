"""Fixtures shared by the tool tests: a fresh tool context, SynthParts scenes as training arrays,
and trainer command lines."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from mereo.cache import FeatureCache
from mereo.data.arrays import SceneArrays
from mereo.tools.base import ToolContext


@pytest.fixture()
def tool_ctx() -> ToolContext:
    """A fresh ToolContext on the CPU with its own empty feature cache."""
    return ToolContext(cache=FeatureCache(), device="cpu")


@pytest.fixture(scope="session")
def synthparts_arrays() -> Callable[[str, int, int], SceneArrays]:
    """``make(split, n, seed)``: ``n`` SynthParts scenes of ``split`` as training arrays (cached)."""
    from mereo.data.arrays import scenes_to_arrays
    from mereo.data.synthparts import CATEGORIES, PART_LABELS, generate_scenes

    @cache
    def make(split: str, n: int, seed: int) -> SceneArrays:
        scenes = list(generate_scenes(split, n, seed=seed))
        return scenes_to_arrays(scenes, list(PART_LABELS), list(CATEGORIES), split)

    return make


@pytest.fixture(scope="session")
def cli_args() -> Callable[..., list[str]]:
    """``cli_args(n_train=8, out=path, allow_random_encoders=True)`` -> ``["--n-train", "8", "--out",
    "<path>", "--allow-random-encoders"]`` (``True`` gives a bare flag)."""

    def make(**options: Any) -> list[str]:
        argv: list[str] = []
        for key, value in options.items():
            argv.append("--" + key.replace("_", "-"))
            if value is not True:
                argv.append(str(value))
        return argv

    return make
