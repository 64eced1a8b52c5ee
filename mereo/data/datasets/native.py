"""Mereo's own item formats: QAItem JSON lines (``multistep.jsonl``) and SynthParts generated in memory."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mereo.data.datasets.common import (
    read_json as _read_json,
)
from mereo.data.datasets.common import (
    records as _records,
)
from mereo.data.datasets.common import (
    resolve as _resolve,
)
from mereo.data.items import QAItem
from mereo.errors import DatasetError


def load_items(path: str | Path) -> list[QAItem]:
    """Load QAItems saved one JSON per line (``multistep.jsonl``); relative image paths are resolved
    against the file's folder."""
    path = Path(path)
    items = []
    for k, rec in enumerate(_records(_read_json(path), path, "QAItem JSON lines")):
        try:
            item = QAItem.model_validate(rec)
        except ValueError as e:
            raise DatasetError(f"{path} line {k + 1} is not a QAItem: {e}") from e
        for im in item.images:
            im.path = _resolve(im.path, path.parent)
        items.append(item)
    return items


def synthparts_cache_dir() -> Path:
    """Where :func:`load_synthparts` keeps its PNGs (``$MEREO_CACHE/synthparts`` or a temp folder)."""
    import os

    root = os.environ.get("MEREO_CACHE") or str(Path(tempfile.gettempdir()) / "mereo-cache")
    return Path(root) / "synthparts"


def load_synthparts(
    split: str,
    n: int,
    seed: int = 0,
    suite: str = "partonomy",
    *,
    size: int = 128,
    per_image: int = 1,
    cache_dir: str | Path | None = None,
) -> list[QAItem]:
    """Generate SynthParts questions in memory, ready for the eval runner.

    The scenes are rendered in this process; their PNGs are written once to ``cache_dir`` (default
    :func:`synthparts_cache_dir`; a file that exists is reused, since scenes are deterministic) and
    the items' ``GoldImage.path`` are absolute paths to them, so every image loads with ``ImageRef``.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"novel"``.
        n: number of images.
        seed: base seed of the scenes and of the questions.
        suite: ``"partonomy"``, ``"pairs"`` or ``"multistep"``.
        size: image side in pixels.
        per_image: questions anchored at each image.
    """
    from mereo.data.synthparts.compose import generate_scenes
    from mereo.data.synthparts.export import write_images
    from mereo.data.synthparts.questions import make_questions

    folder = Path(cache_dir) if cache_dir is not None else synthparts_cache_dir()
    folder = folder / f"size{size}"
    scenes = list(generate_scenes(split, n, seed, size))
    rel = write_images(scenes, folder, overwrite=False)
    return make_questions(scenes, suite, seed=seed, per_image=per_image, paths=[str(folder / r) for r in rel])
