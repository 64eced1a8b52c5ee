"""Fixtures shared by the eval tests: tiny hand-written QA items with PNG images on disk, the
same items as an ``items`` JSON file (the builders live in :mod:`tests.evals.evalfixtures`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mereo.data.items import QAItem
from tests.evals.evalfixtures import make_items


@pytest.fixture()
def qa_items(tmp_path: Path) -> list[QAItem]:
    """Two one-image Partonomy-style items (identification, intersection) and one image pair,
    their 16 x 16 images (random pixels) written into ``tmp_path`` as ``a.png`` and ``b.png``."""
    return make_items(tmp_path)


@pytest.fixture()
def items_file(qa_items: list[QAItem], tmp_path: Path) -> Path:
    """:func:`qa_items` written as ``tmp_path / "items.json"`` (the ``items`` suite's format)."""
    path = tmp_path / "items.json"
    path.write_text(json.dumps([it.model_dump(mode="json") for it in qa_items]))
    return path
