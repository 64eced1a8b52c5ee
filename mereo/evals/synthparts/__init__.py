"""SynthParts: procedurally drawn objects with exact part masks, benchmark questions and exports.

Rendering: ``draw`` (shapes -> masks), ``textures`` (colours, textures, backgrounds), ``templates``
(one small drawing function per category), ``compose`` (scenes). Questions: ``questions``.
Files in the reference formats: ``export``. Command line: ``cli`` (``mereo data ...``).
"""

from __future__ import annotations

from mereo.evals.synthparts.compose import SPLIT_STREAMS, generate_scene, generate_scenes
from mereo.evals.synthparts.scene import VISIBLE_FRACTION, Scene, SceneObject, ScenePart
from mereo.evals.synthparts.templates import (
    CATEGORIES,
    NOVEL_CATEGORIES,
    PART_LABELS,
    SUPERCATEGORIES,
    TRAIN_CATEGORIES,
    Template,
)

SPLITS = tuple(SPLIT_STREAMS)

__all__ = [
    "CATEGORIES", "NOVEL_CATEGORIES", "PART_LABELS", "SPLITS", "SUPERCATEGORIES", "TRAIN_CATEGORIES",
    "VISIBLE_FRACTION", "Scene", "SceneObject", "ScenePart", "Template", "generate_scene", "generate_scenes",
]
