"""A very long question gets a short error message (it used to repeat the whole question: 70 KB)."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.agent.lmm.offline import OfflinePlanner
from mereo.errors import QuestionError, excerpt
from mereo.types import ImageRef

LONG = {
    "unparsed": " ".join(["blah"] * 10_000) + "?",
    "anaphora": "Which of those " + " ".join(["very"] * 10_000) + " parts?",
    "common objects": "Which objects are common to all " + " ".join(["the"] * 10_000) + "?",
    "part": "Which object has a " + " ".join(["zorblax"] * 10_000) + "?",
}


@pytest.mark.parametrize("kind", list(LONG))
def test_long_question_error_is_short(kind: str) -> None:
    image = ImageRef(np.zeros((16, 16, 3), dtype=np.uint8))
    with pytest.raises(QuestionError) as err:
        OfflinePlanner().plan(LONG[kind], [image])
    msg = str(err.value)
    assert len(msg) < 1500, f"{len(msg)} characters"
    assert "words" in msg  # says how long the question was


def test_excerpt() -> None:
    assert excerpt("short question?") == "'short question?'"
    long = excerpt("word " * 1000)
    assert len(long) < 200 and long.endswith("(1000 words)")


def test_the_word_limit_is_checked_before_any_rule_runs() -> None:
    """The rules read n-grams of the question: without the limit, 10,000 words took minutes."""
    import time

    from mereo.agent.lmm.base import MAX_WORDS

    image = ImageRef(np.zeros((16, 16, 3), dtype=np.uint8))
    planner = OfflinePlanner()
    ok = "Which parts does the chair have " + " ".join(["really"] * (MAX_WORDS - 10)) + "?"
    assert planner.plan(ok, [image]).objects  # at the limit the question is still read
    t = time.perf_counter()
    with pytest.raises(QuestionError, match=f"at most {MAX_WORDS} words"):
        planner.plan(ok.replace("really", "really really"), [image])
    assert time.perf_counter() - t < 1.0
