"""Shared fixtures of the eval tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.evals.evalfixtures import make_items


@pytest.fixture()
def items_file(tmp_path: Path) -> Path:
    items = make_items(tmp_path)
    path = tmp_path / "items.json"
    path.write_text(json.dumps([it.model_dump(mode="json") for it in items]))
    return path
