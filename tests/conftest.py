"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def real_format() -> Path:
    """``tests/fixtures/real_format``: tiny Partonomy-core, MixedParts and COCO-parts files and images."""
    return Path(__file__).resolve().parent / "fixtures" / "real_format"
