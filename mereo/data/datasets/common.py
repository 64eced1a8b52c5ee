"""What the dataset loaders share: reading JSON records, image sizes, masks and paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from mereo.errors import DatasetError
from mereo.types import Mask


def read_json(path: str | Path) -> Any:
    """A JSON (or JSON lines, for ``.jsonl``) file's content.

    Raises:
        DatasetError: the file is missing or not valid JSON.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"dataset file not found: {p}")
    try:
        if p.suffix == ".jsonl":
            return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{p} is not valid JSON ({e}); pass the dataset's .json file") from e


def records(data: Any, path: str | Path, what: str) -> list[dict[str, Any]]:
    """The list of records of a dataset file: a JSON list, or a dict holding one under ``data`` /
    ``samples`` / ``questions`` / ``annotations``, or ``{id: record}``.

    Raises:
        DatasetError: anything else (``what`` names the expected format in the message).
    """
    if isinstance(data, dict):
        for key in ("data", "samples", "questions", "annotations"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            if data and all(isinstance(v, dict) for v in data.values()):  # {id: record}
                data = [{"id": k, **v} for k, v in data.items()]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DatasetError(f"{path} is not a {what} file: expected a JSON list of records")
    return data


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the image file header."""
    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read image {path} to learn its size ({e}); check images_root") from e


def mask(seg: Any, height: int | None, width: int | None, where: str) -> Mask:
    """A COCO segmentation (RLE, compressed or not, or polygons) as a Mask; ``where`` names it in errors."""
    try:
        if isinstance(seg, dict) and (height is None or width is None):
            return Mask.from_rle(seg)
        if height is None or width is None:
            raise DatasetError(f"{where}: polygon segmentation without a known image size")
        return Mask.from_coco(seg, height, width)
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{where}: unusable segmentation ({e})") from e


def union(masks: list[Mask]) -> Mask:
    """One mask covering ``masks`` (at least one)."""
    return masks[0] if len(masks) == 1 else Mask.union(masks)


def resolve(path: str, base: Path) -> str:
    """``path``, or ``base / path`` when it is relative."""
    p = Path(path)
    return str(p if p.is_absolute() else (base / p))
