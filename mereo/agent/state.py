"""The graph's typed state and run-time context.

The state holds validated values that serialise compactly: the :class:`~mereo.plan.Plan`, masks
as :class:`~mereo.types.PartMask` / :class:`~mereo.types.Mask` (COCO RLE inside), ids, names and
JSON-ready dicts; never arrays. The plan is parsed once (``understand``) and the masks validated
once (where a tool returns them); the nodes pass these objects on. A checkpointer stores them
through LangGraph's msgpack serde (the types are allowed in :data:`SERDE_TYPES`). The images and
the built backends live in the run-time :class:`AgentContext`, which is not checkpointed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired, TypedDict

from mereo.agent.lmm.base import LMM
from mereo.agent.toolset import Toolset
from mereo.config import MereoConfig
from mereo.knowledge import PartHierarchy
from mereo.plan import Plan
from mereo.tools.base import CosegTask, ToolContext
from mereo.types import ImageRef, Mask, PartMask

#: The classes the state holds besides JSON values (for the checkpointer's msgpack allow-list).
SERDE_TYPES: list[tuple[str, str]] = [
    ("mereo.plan", "Plan"),
    ("mereo.types", "PartMask"),
    ("mereo.types", "Mask"),
]


def add_or_reset(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Reducer: append ``right``; ``None`` clears the list (each new question starts empty)."""
    if right is None:
        return []
    return [*(left or []), *right]


class SegmentJob(TypedDict):
    """The input of one fanned-out ``segment`` task."""

    object: str
    image: int
    parts: list[str]
    description: str
    region: Mask | None  # every recognised instance of the object in the image, when recognised
    attempt: NotRequired[int]  # 2 for verification's one retry


class RecognizeJob(TypedDict):
    """The input of one fanned-out ``recognize`` task."""

    image: int
    top_k: int


class Composed(TypedDict):
    """The answer set the ``compose`` node computes.

    Attributes:
        labels: sorted answer labels.
        kind: ``"parts"`` or ``"objects"``.
        parts: the answer's masks (deduplicated).
        notes: remarks of the set algebra.
        matches: parts named differently that look alike across images.
        missing: sentences naming the named objects not found.
        value: the yes/no (``exists``) or count (``count``) answer; None otherwise or when an
            object it depends on was not found.
        per_object: ``exists`` / ``which``: object -> has the part (None: not found).
        not_found: the named objects verification could not find: ``{object, image, reason}``.
        caveats: sentences the answer text must carry (an object given as a best guess).
    """

    labels: list[str]
    kind: str
    parts: list[PartMask]
    notes: list[str]
    matches: list[dict[str, Any]]
    missing: list[str]
    value: NotRequired[bool | int | None]
    per_object: NotRequired[dict[str, bool | None]]
    not_found: NotRequired[list[dict[str, Any]]]
    caveats: NotRequired[list[str]]


class AgentState(TypedDict, total=False):
    """One question's state (per-question fields are reset by the input of each run).

    Attributes:
        question: the question.
        n_images: how many images were given.
        image_ids: sha256 of each image (the pixels stay in the context).
        history: earlier turns on this thread (question, labels, text); kept across questions.
        plan: the validated plan.
        coseg_task: the co-segmentation task that answers the plan directly (an image-pair
            question and a co-segmenter on), else None; decided once, with the plan.
        recognized: object masks (``kind="object"``) from the recognizer or co-segmenter.
        jobs: segmentation jobs (:class:`SegmentJob`).
        hierarchy: node-link JSON of the object-part graph used.
        parts: part masks from the segmenter or co-segmenter.
        similarity: ``{"a": [image, object, label], "b": [...], "s": float, "mutual": bool,
            "t": the backend's threshold}`` from correspondence.
        verify_attempt: how many times ``verify`` ran (1, or 2 after its one retry).
        retry_jobs: the segmentation jobs of verification's retry.
        presence: ``"<object>@<image>"`` -> presence score of each named object checked.
        absent: ``[image, object]`` pairs verification could not find.
        kept_parts: the part masks that passed verification (and the examine step); None: unchecked.
        doubtful_parts: best guesses verification dropped, ``score`` their guess model's chance
            (read when a question presupposes a part no object kept).
        warnings: sentences for the answer (e.g. images unlike the training data).
        result: the composed answer set (:class:`Composed`).
        confidence: the answer's confidence (:func:`mereo.agent.confidence.answer_confidence`).
        text: the answer text.
        trace: steps (``Step.to_dict``), in order.
    """

    question: str
    n_images: int
    image_ids: list[str]
    history: Annotated[list[dict[str, Any]], operator.add]
    plan: Plan | None
    coseg_task: CosegTask | None
    recognized: Annotated[list[PartMask], add_or_reset]
    jobs: list[SegmentJob]
    hierarchy: dict[str, Any]
    parts: Annotated[list[PartMask], add_or_reset]
    similarity: list[dict[str, Any]]
    verify_attempt: int
    retry_jobs: list[SegmentJob]
    presence: dict[str, float]
    absent: list[list[Any]]
    kept_parts: list[PartMask] | None
    doubtful_parts: list[PartMask]
    warnings: list[str]
    result: Composed | None
    confidence: dict[str, Any]
    text: str
    trace: Annotated[list[dict[str, Any]], add_or_reset]


@dataclass
class AgentContext:
    """What every node reads besides the state (LangGraph ``context_schema``)."""

    lmm: LMM
    tools: Toolset
    tool_ctx: ToolContext
    kb: PartHierarchy
    config: MereoConfig
    images: list[ImageRef]
