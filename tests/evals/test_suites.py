"""Backend presets of the eval suites."""

from __future__ import annotations

import pytest

from mereo.errors import QuestionError
from mereo.evals.suites import parse_backends


def test_parse_backends_presets_and_errors():
    assert parse_backends(["segment=oracle"])["segment"] == "oracle"
    assert parse_backends([], "blind")["lmm"] == "blind"
    assert parse_backends([], "oracle")["coseg"] == "oracle"
    with pytest.raises(QuestionError):
        parse_backends(["segmnt=oracle"])
    with pytest.raises(QuestionError):
        parse_backends(["segment"])
