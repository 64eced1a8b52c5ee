"""The graph's typed state and run-time context.

State holds only JSON-ready values: masks as COCO RLE dicts (``PartMask.model_dump``), plans as
dicts, ids and names; never arrays. The images and the built backends live in the run-time
:class:`AgentContext`, which is not checkpointed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from mereo.agent.lmm.base import LMM
from mereo.agent.toolset import Toolset
from mereo.config import MereoConfig
from mereo.knowledge import PartHierarchy
from mereo.tools.base import ToolContext
from mereo.types import ImageRef


def add_or_reset(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Reducer: append ``right``; ``None`` clears the list (each new question starts empty)."""
    if right is None:
        return []
    return [*(left or []), *right]


class AgentState(TypedDict, total=False):
    """One question's state (per-question fields are reset by the input of each run).

    Attributes:
        question: the question.
        n_images: how many images were given.
        image_ids: sha256 of each image (the pixels stay in the context).
        history: earlier turns on this thread (question, labels, text); kept across questions.
        plan: the validated plan (``Plan.model_dump``).
        recognized: object masks (``PartMask`` dicts, ``kind="object"``) from the recognizer or co-segmenter.
        jobs: segmentation jobs ``{object, image, parts, description}``.
        hierarchy: node-link JSON of the object-part graph used.
        parts: part masks (``PartMask`` dicts) from the segmenter or co-segmenter.
        similarity: ``{"a": [image, object, label], "b": [...], "s": float, "mutual": bool,
            "t": the backend's threshold}`` from correspondence.
        result: the composed answer set: labels, parts, kind, notes, matches.
        text: the answer text.
        trace: steps (``Step.to_dict``), in order.
    """

    question: str
    n_images: int
    image_ids: list[str]
    history: Annotated[list[dict[str, Any]], operator.add]
    plan: dict[str, Any] | None
    recognized: Annotated[list[dict[str, Any]], add_or_reset]
    jobs: list[dict[str, Any]]
    hierarchy: dict[str, Any]
    parts: Annotated[list[dict[str, Any]], add_or_reset]
    similarity: list[dict[str, Any]]
    result: dict[str, Any]
    text: str
    trace: Annotated[list[dict[str, Any]], add_or_reset]


class SegmentJob(TypedDict):
    """The input of one fanned-out ``segment`` task."""

    object: str
    image: int
    parts: list[str]
    description: str
    region: dict[str, Any] | None  # the recognised object's mask (COCO RLE), when there is one


class RecognizeJob(TypedDict):
    """The input of one fanned-out ``recognize`` task."""

    image: int
    top_k: int


@dataclass
class AgentContext:
    """What every node reads besides the state (LangGraph ``context_schema``)."""

    lmm: LMM
    tools: Toolset
    tool_ctx: ToolContext
    kb: PartHierarchy
    config: MereoConfig
    images: list[ImageRef]
