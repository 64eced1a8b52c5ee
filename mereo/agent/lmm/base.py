"""The interface every LMM backend implements: plan a question, and propose parts of unknown objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from mereo.errors import QuestionError, excerpt
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


#: Longest question (words) the offline planner reads: its rules read n-grams of the question, so
#: their time grows with the square of its length (a 10,000-word question took minutes).
MAX_WORDS = 300


def check_length(question: str, n_words: int, limit: int = MAX_WORDS) -> None:
    """Refuse a question of more than ``limit`` words, with a short message.

    Raises:
        QuestionError: the question is too long.
    """
    if n_words > limit:
        raise QuestionError(
            f"{excerpt(question)} is too long for the offline planner, which reads questions of at "
            f"most {limit} words; ask a shorter question, or use a hosted planner (lmm='openai:...')."
        )
