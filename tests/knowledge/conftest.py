"""Fixtures shared by the knowledge tests."""

from __future__ import annotations

import pytest

from mereo.knowledge import PartHierarchy


@pytest.fixture(scope="module")
def kb() -> PartHierarchy:
    """The default knowledge base (all bundled taxonomies)."""
    return PartHierarchy.default()
