"""Interfaces every tool backend implements, and the plain-dict registry helper.

Each tool family (``segment``, ``coseg``, ``correspond``, ``recognize``) has a module-level
``REGISTRY: dict[str, Builder]`` of builder functions in its ``__init__.py``. A backend name is
``"<name>"`` or ``"<name>:<argument>"`` (e.g. ``"dinov2:/models/dinov2-base"``); the part after
the first ``:`` is passed to the builder as ``arg``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from mereo.cache import FeatureCache
from mereo.errors import UnknownBackendError
from mereo.types import ImageRef, Mask, PartMask

CosegTask = Literal["common_objects", "common_parts", "unique_parts"]
COSEG_TASKS: tuple[CosegTask, ...] = ("common_objects", "common_parts", "unique_parts")

#: Where :meth:`ToolContext.note` also writes while :func:`collect_notes` runs (per thread / task).
_NOTE_SINK: ContextVar[list[dict[str, Any]] | None] = ContextVar("mereo_tool_notes", default=None)


@contextmanager
def collect_notes() -> Iterator[list[dict[str, Any]]]:
    """Collect the notes tools write with :meth:`ToolContext.note` while the block runs.

    The collector is a context variable, so tools called in parallel tasks (threads) each feed
    their own block's list; an inner block takes the notes written inside it.

    Yields:
        The list the notes are appended to, in order.
    """
    sink: list[dict[str, Any]] = []
    token = _NOTE_SINK.set(sink)
    try:
        yield sink
    finally:
        _NOTE_SINK.reset(token)


@dataclass
class ToolContext:
    """What every backend builder receives besides its argument.

    Attributes:
        cache: the feature cache shared by all tools of an agent.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        gold: ground truth for ``oracle`` backends: image sha256 -> the image's gold
            part and object masks (``PartMask.kind`` tells which). Filled by evals.
        events: every note tools wrote (e.g. ``{"what": "image embedding", "cache": "hit"}``), a
            running log; the agent takes each step's own notes with :func:`collect_notes` and puts
            them in that step of the trace.
    """

    cache: FeatureCache
    device: str = "auto"
    gold: dict[str, list[PartMask]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def note(self, **event: Any) -> None:
        """Record a JSON-ready note (into ``events`` and the active :func:`collect_notes` block)."""
        self.events.append(event)
        sink = _NOTE_SINK.get()
        if sink is not None:
            sink.append(event)


@runtime_checkable
class Segmenter(Protocol):
    """Text (or a part list) -> one mask per named part found in the image."""

    name: str

    def segment(
        self,
        image: ImageRef,
        text: str | None = None,
        parts: Sequence[str] | None = None,
        object: str | None = None,
        image_index: int = 0,
    ) -> list[PartMask]:
        """Segment the parts named in ``text`` (span-tagged) or listed in ``parts``.

        Returns one PartMask per part found (union of its instances); parts that are not visible
        are left out. ``object`` names the object the parts belong to, when known.
        """
        ...


@runtime_checkable
class CoSegmenter(Protocol):
    """An image pair -> labelled masks of common objects, common parts or unique parts."""

    name: str

    def cosegment(self, image_a: ImageRef, image_b: ImageRef, task: CosegTask) -> list[PartMask]:
        """Returns PartMasks with ``image_index`` 0 (image_a) or 1 (image_b)."""
        ...


class Correspondence(BaseModel):
    """Part-to-part similarity between two images' part masks.

    Attributes:
        similarity: ``len(parts_a) x len(parts_b)`` cosine similarities in ``[-1, 1]``.
        matches: mutual best matches above the threshold as ``(i, j, similarity)``.
        threshold: the threshold used.
    """

    similarity: list[list[float]]
    matches: list[tuple[int, int, float]] = Field(default_factory=list)
    threshold: float = 0.5


@runtime_checkable
class Corresponder(Protocol):
    name: str

    def correspond(
        self, image_a: ImageRef, parts_a: Sequence[PartMask], image_b: ImageRef, parts_b: Sequence[PartMask]
    ) -> Correspondence: ...

    def match_points(
        self, image_a: ImageRef, points: Sequence[tuple[float, float]], image_b: ImageRef
    ) -> list[tuple[float, float]]:
        """``points`` are ``(x, y)`` pixels in image_a; returns their matches in image_b's pixels."""
        ...


class Recognition(BaseModel):
    """One recognised object: label, score, box ``(x, y, w, h)`` in pixels, and optional mask."""

    label: str
    score: float
    box: tuple[float, float, float, float]
    mask: Mask | None = None


@runtime_checkable
class Recognizer(Protocol):
    name: str

    def recognize(
        self, image: ImageRef, candidates: Sequence[str] | None = None, top_k: int = 3
    ) -> list[Recognition]:
        """Ranked object labels (from ``candidates`` or the known vocabulary)."""
        ...

    def score(self, image: ImageRef, mask: Mask | None, texts: Sequence[str]) -> list[float]:
        """Similarity of the (masked) image region to each text."""
        ...


Builder = Callable[..., Any]


def build_backend(family: str, registry: Mapping[str, Builder], name: str, ctx: ToolContext) -> Any:
    """Build the backend ``name`` of ``family`` from ``registry``.

    Raises:
        UnknownBackendError: the name is not registered; the message lists the known names.
    """
    key, _, arg = name.partition(":")
    if key not in registry:
        known = ", ".join(sorted(registry))
        raise UnknownBackendError(
            f"unknown {family} backend {name!r}; known backends: {known}. "
            f"Names with an argument look like 'dinov2:/path/to/model'."
        )
    return registry[key](ctx, arg or None)
