"""The bundled knowledge files: taxonomy sources, the category tree, synonyms and kinds.

Files live in ``mereo/knowledge/data/`` (package data). Every ``*.json`` there with an
``"objects"`` key is a taxonomy source::

    {"source": "ADE20K-Part234", "provenance": "...", "confidence": 1.0,
     "objects": {"chair": {"parts": ["apron", "arm", ...], "category": "seating"}, ...},
     "subparts": {"wheel": ["rim", "tire"]}}

``categories.json`` holds the category ``is_a`` tree and ``synonyms.json`` the synonym groups and
"kind of" links. Names are compared after :func:`~mereo.knowledge.normalize.normalize` and
:func:`canonical`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from mereo.errors import DatasetError
from mereo.knowledge.normalize import normalize

DATA_PACKAGE = "mereo.knowledge.data"


class ObjectEntry(BaseModel):
    """One object of a taxonomy source: its parts and (optionally) its categories."""

    model_config = ConfigDict(extra="forbid")

    parts: list[str] = Field(default_factory=list)
    category: str | list[str] | None = None

    def categories(self) -> list[str]:
        if self.category is None:
            return []
        return [self.category] if isinstance(self.category, str) else list(self.category)


class TaxonomySource(BaseModel):
    """One taxonomy file: object -> parts, with the provenance of every entry."""

    source: str = Field(min_length=1)
    provenance: str = ""
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    objects: dict[str, ObjectEntry]
    subparts: dict[str, list[str]] = Field(default_factory=dict)
    description: str = ""

    @field_validator("objects")
    @classmethod
    def _names_not_empty(cls, v: dict[str, ObjectEntry]) -> dict[str, ObjectEntry]:
        for name, entry in v.items():
            if not normalize(name):
                raise ValueError(f"empty object name {name!r}")
            if any(not normalize(p) for p in entry.parts):
                raise ValueError(f"object {name!r} has an empty part name")
        return v


def _read_json(path: Path | Any) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"knowledge file {path} could not be read as JSON: {e}") from e
    if not isinstance(data, dict):
        raise DatasetError(f"knowledge file {path} must hold a JSON object at the top level")
    return data


def _data_dir() -> Any:
    return resources.files(DATA_PACKAGE)


def parse_source(data: dict[str, Any], origin: str = "<dict>") -> TaxonomySource:
    """Validate one taxonomy file's content.

    Raises:
        DatasetError: when the content does not match the taxonomy file format.
    """
    try:
        return TaxonomySource.model_validate(data)
    except PydanticValidationError as e:
        raise DatasetError(f"taxonomy file {origin} is not in the expected format: {e}") from e


def load_sources(folder: str | Path | None = None) -> list[TaxonomySource]:
    """Every taxonomy source in ``folder`` (default: the bundled data), sorted by file name."""
    root = Path(folder) if folder is not None else _data_dir()
    files = sorted((p for p in root.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
    out = []
    for path in files:
        data = _read_json(path)
        if "objects" in data:
            out.append(parse_source(data, str(path)))
    return out


@lru_cache(maxsize=1)
def _synonym_data() -> tuple[dict[str, str], dict[str, list[str]], dict[str, str]]:
    data = _read_json(_data_dir() / "synonyms.json")
    to_canonical: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for canon, others in data.get("synonyms", {}).items():
        c = normalize(canon)
        names = [c, *(normalize(o) for o in others)]
        groups[c] = list(dict.fromkeys(names))
        for n in names:
            to_canonical.setdefault(n, c)
    kinds = {normalize(k): normalize(v) for k, v in data.get("kinds", {}).items()}
    return to_canonical, groups, kinds


@lru_cache(maxsize=1)
def category_tree() -> dict[str, list[str]]:
    """The category ``is_a`` tree: category -> parent categories (``[]`` for a root)."""
    data = _read_json(_data_dir() / "categories.json")
    return {normalize(k): [normalize(p) for p in v] for k, v in data.get("is_a", {}).items()}


def canonical(name: str) -> str:
    """The normalised, canonical spelling of an object or part name: Mereo's one name normaliser.

    ``canonical("Tyres") == "tire"``, ``canonical("aeroplane") == "airplane"``; names without a
    synonym entry are only normalised.
    """
    n = normalize(name)
    return _synonym_data()[0].get(n, n)


def synonyms_of(term: str) -> list[str]:
    """All names of the synonym group of ``term`` (canonical first), or ``[normalize(term)]``."""
    c = canonical(term)
    return list(_synonym_data()[1].get(c, [c]))


def synonym_table() -> dict[str, str]:
    """Every known name (normalised) -> its canonical name."""
    return dict(_synonym_data()[0])


def broader(term: str) -> str | None:
    """The broader term ``term`` is a kind of (``"seat cushion" -> "seat"``), or ``None``."""
    kinds = _synonym_data()[2]
    c = canonical(term)
    b = kinds.get(c, kinds.get(normalize(term)))
    return canonical(b) if b else None
