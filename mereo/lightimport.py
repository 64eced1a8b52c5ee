"""Import a subpackage without running its parent package's ``__init__``.

``segment_anything/__init__.py`` imports its predictor, which imports torchvision, which imports
``torch._dynamo`` (about 1.2 s); the model layers in ``segment_anything.modeling`` need none of it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


def import_submodule(name: str) -> Any:
    """``importlib.import_module(name)``, skipping the top-level package's ``__init__`` when that
    package is not imported yet. A later plain ``import`` of the package still runs it."""
    top = name.partition(".")[0]
    if top in sys.modules:
        return importlib.import_module(name)
    spec = importlib.util.find_spec(top)
    if spec is None or spec.submodule_search_locations is None:
        return importlib.import_module(name)
    stub = types.ModuleType(top)
    stub.__path__ = list(spec.submodule_search_locations)
    sys.modules[top] = stub
    try:
        return importlib.import_module(name)
    finally:
        if sys.modules.get(top) is stub:
            del sys.modules[top]
