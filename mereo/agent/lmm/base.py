"""The interface every LMM backend implements: plan a question, and propose parts of unknown objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from mereo.plan import Plan
from mereo.types import ImageRef


@runtime_checkable
class LMM(Protocol):
    """A planner backend.

    Attributes:
        name: the backend name as configured (``"offline"``, ``"openai:gpt-4o-mini"``).
    """

    name: str

    def plan(self, question: str, images: Sequence[ImageRef], history: Sequence[dict[str, Any]] = ()) -> Plan:
        """Turn a question about ``images`` into a validated :class:`Plan`.

        Args:
            question: the user's question.
            images: the images, in order (index 0 is "image 1").
            history: earlier turns on the same thread, oldest first, each
                ``{"question": str, "labels": [str], "text": str}``.

        Raises:
            QuestionError: the question cannot be planned (said clearly, never guessed).
            InvalidLMMResponseError: a hosted model's reply stays invalid after a repair round.
        """
        ...

    def propose_parts(self, obj: str, images: Sequence[ImageRef] = ()) -> list[str]:
        """Normalised part names an object of type ``obj`` usually has (LangHOPS-style proposal)."""
        ...
