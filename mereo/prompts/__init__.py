"""Prompt templates and JSON schemas for the LMM's structured output, as package data.

Templates are Markdown files with ``{placeholders}`` filled by :func:`render`; schemas are JSON
files. ``plan.schema.json`` is the JSON schema of :class:`mereo.plan.Plan` (a test keeps
the two in sync; ``python -m mereo.prompts`` rewrites it).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from mereo.errors import ValidationError


@lru_cache(maxsize=32)
def load_text(name: str) -> str:
    """The text of prompt file ``name`` (e.g. ``"understand.md"``)."""
    try:
        return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ValidationError(f"no prompt file {name!r} in mereo/prompts") from e


def load_schema(name: str) -> dict[str, Any]:
    """A JSON schema shipped with the package (e.g. ``"plan.schema.json"``)."""
    return json.loads(load_text(name))


def render(name: str, **values: Any) -> str:
    """Fill the ``{placeholders}`` of a template; a missing value is an error, not a blank."""
    text = load_text(name)
    try:
        return text.format(**values)
    except KeyError as e:
        raise ValidationError(f"prompt {name!r} needs a value for {e.args[0]!r}") from e


def write_plan_schema() -> str:
    """Regenerate ``plan.schema.json`` from the Plan model; returns the path written."""
    from mereo.plan import plan_json_schema

    path = resources.files(__package__).joinpath("plan.schema.json")
    text = json.dumps(plan_json_schema(), indent=1, sort_keys=True) + "\n"
    with resources.as_file(path) as p:
        p.write_text(text, encoding="utf-8")
        load_text.cache_clear()
        return str(p)
