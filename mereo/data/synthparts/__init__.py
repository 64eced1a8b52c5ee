"""SynthParts: procedurally drawn objects with exact part masks, benchmark questions and exports.

Rendering: ``draw`` (shapes -> masks), ``textures`` (colours, textures, backgrounds), ``templates``
(one small drawing function per category), ``compose`` (scenes). Questions: ``questions``.
Files in the reference formats: ``export``. Command line: ``cli`` (``mereo data ...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mereo.data.synthparts.compose import SPLIT_STREAMS, generate_scene, generate_scenes
from mereo.data.synthparts.scene import VISIBLE_FRACTION, Scene, SceneObject, ScenePart
from mereo.data.synthparts.templates import (
    CATEGORIES,
    NOVEL_CATEGORIES,
    PART_LABELS,
    SUPERCATEGORIES,
    TRAIN_CATEGORIES,
    Template,
)

if TYPE_CHECKING:
    from mereo.data.items import QAItem

SPLITS = tuple(SPLIT_STREAMS)


def load_synthparts(
    split: str, n: int, seed: int = 0, suite: str = "partonomy", **kwargs: Any
) -> list[QAItem]:
    """Questions about ``n`` generated images; see :func:`mereo.data.datasets.load_synthparts`."""
    from mereo.data.datasets import load_synthparts as _load

    return _load(split, n, seed, suite, **kwargs)


def make_questions(scenes: Sequence[Scene], suite: str, **kwargs: Any) -> list[QAItem]:
    """Questions with gold answers about ``scenes``; see :func:`.questions.make_questions`."""
    from mereo.data.synthparts.questions import make_questions as _make

    return _make(scenes, suite, **kwargs)


__all__ = [
    "CATEGORIES",
    "NOVEL_CATEGORIES",
    "PART_LABELS",
    "SPLITS",
    "SUPERCATEGORIES",
    "TRAIN_CATEGORIES",
    "VISIBLE_FRACTION",
    "Scene",
    "SceneObject",
    "ScenePart",
    "Template",
    "generate_scene",
    "generate_scenes",
    "load_synthparts",
    "make_questions",
]
