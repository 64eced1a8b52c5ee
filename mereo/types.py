"""Shared result types: binary masks as COCO RLE, labelled part masks, and image references.

Masks travel as COCO run-length encoding (``{"size": [H, W], "counts": "<compressed str>"}``),
encoded and decoded with pycocotools. Arrays are ``H x W`` bool unless said otherwise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mereo.errors import InvalidImageError, ValidationError
from mereo.images import MAX_DECODE_BYTES, MAX_PIXELS, MAX_SIDE, MIN_SIDE, load_pixels

__all__ = [
    "MAX_DECODE_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MIN_SIDE",
    "ImageRef",
    "Mask",
    "PartMask",
    "json_schema",
    "validate",
]


class Mask(BaseModel):
    """A binary mask stored as compressed COCO RLE.

    Attributes:
        size: ``[height, width]`` in pixels.
        counts: the compressed RLE string of pycocotools (column-major runs).
    """

    model_config = ConfigDict(frozen=True)

    size: tuple[int, int]
    counts: str

    @field_validator("size")
    @classmethod
    def _positive(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError(f"mask size must be positive, got {v}")
        return v

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_numpy(cls, mask: np.ndarray) -> Mask:
        """Encode an ``H x W`` boolean (or 0/1) array."""
        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise ValueError(f"Mask.from_numpy expects an HxW array, got shape {arr.shape}")
        rle = mask_utils.encode(np.asfortranarray(arr.astype(bool).astype(np.uint8)))
        return cls(size=(int(rle["size"][0]), int(rle["size"][1])), counts=rle["counts"].decode("ascii"))

    @classmethod
    def empty(cls, height: int, width: int) -> Mask:
        return cls.from_numpy(np.zeros((height, width), dtype=bool))

    @classmethod
    def from_rle(cls, rle: dict[str, Any]) -> Mask:
        """Accept compressed (str/bytes counts) or uncompressed (list counts) COCO RLE."""
        h, w = (int(x) for x in rle["size"])
        counts = rle["counts"]
        if isinstance(counts, list):
            counts = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        return cls(size=(h, w), counts=counts)

    @classmethod
    def from_polygons(cls, polygons: Sequence[Sequence[float]], height: int, width: int) -> Mask:
        """Rasterise COCO polygons (lists of ``x1, y1, x2, y2, ...`` in pixels)."""
        polys = [list(map(float, p)) for p in polygons if len(p) >= 6]
        if not polys:
            return cls.empty(height, width)
        rles = mask_utils.frPyObjects(polys, height, width)
        merged = mask_utils.merge(rles)
        return cls(size=(height, width), counts=merged["counts"].decode("ascii"))

    @classmethod
    def from_coco(cls, segmentation: Any, height: int, width: int) -> Mask:
        """Build from a COCO ``segmentation`` field: polygons, or RLE (compressed or not)."""
        if isinstance(segmentation, dict):
            return cls.from_rle(segmentation)
        if isinstance(segmentation, list):
            if segmentation and isinstance(segmentation[0], (int, float)):
                segmentation = [segmentation]
            return cls.from_polygons(segmentation, height, width)
        raise ValueError(f"unsupported COCO segmentation of type {type(segmentation).__name__}")

    # -- access -------------------------------------------------------------------------------
    def rle(self) -> dict[str, Any]:
        """The pycocotools RLE dict (counts as bytes)."""
        return {"size": [self.size[0], self.size[1]], "counts": self.counts.encode("ascii")}

    def to_coco(self) -> dict[str, Any]:
        """JSON-ready COCO RLE (counts as str)."""
        return {"size": [self.size[0], self.size[1]], "counts": self.counts}

    def to_numpy(self) -> np.ndarray:
        """Decode to an ``H x W`` bool array."""
        return mask_utils.decode(self.rle()).astype(bool)

    @property
    def height(self) -> int:
        return self.size[0]

    @property
    def width(self) -> int:
        return self.size[1]

    @cached_property
    def area(self) -> int:
        """Number of foreground pixels."""
        return int(mask_utils.area(self.rle()))

    def bbox(self) -> tuple[float, float, float, float]:
        """Bounding box as ``x, y, w, h`` in pixels (COCO convention)."""
        x, y, w, h = mask_utils.toBbox(self.rle()).tolist()
        return (x, y, w, h)

    def is_empty(self) -> bool:
        return self.area == 0

    def iou(self, other: Mask) -> float:
        """Intersection over union; two empty masks have IoU 1."""
        self._check_same_size(other)
        inter = Mask.intersection([self, other]).area
        union = Mask.union([self, other]).area
        return 1.0 if union == 0 else inter / union

    def _check_same_size(self, other: Mask) -> None:
        if tuple(self.size) != tuple(other.size):
            raise ValueError(f"mask sizes differ: {self.size} vs {other.size}")

    @staticmethod
    def union(masks: Iterable[Mask]) -> Mask:
        """Union of one or more masks of the same size."""
        return Mask._merge(list(masks), intersect=False)

    @staticmethod
    def intersection(masks: Iterable[Mask]) -> Mask:
        """Intersection of one or more masks of the same size."""
        return Mask._merge(list(masks), intersect=True)

    @staticmethod
    def _merge(masks: list[Mask], intersect: bool) -> Mask:
        if not masks:
            raise ValueError("need at least one mask")
        for m in masks[1:]:
            masks[0]._check_same_size(m)
        merged = mask_utils.merge([m.rle() for m in masks], intersect=int(intersect))
        return Mask(size=masks[0].size, counts=merged["counts"].decode("ascii"))

    def __or__(self, other: Mask) -> Mask:
        return Mask.union([self, other])

    def __and__(self, other: Mask) -> Mask:
        return Mask.intersection([self, other])


class PartMask(BaseModel):
    """One labelled part (or object) mask in one image.

    Attributes:
        label: normalised part name, e.g. ``"leg"``; for object masks the object name.
        object: the object the part belongs to, e.g. ``"chair"`` (``None`` when unknown).
        image_index: index of the image in the question's image list (0-based).
        mask: the mask as COCO RLE, in that image's pixel frame.
        score: confidence in ``[0, 1]``.
        source: the backend that produced it, e.g. ``"segment:plum-small"``.
        kind: ``"part"`` or ``"object"``.
        guess: a best guess: no pixel of the object was labelled with the part, and the mask holds
            the object's pixels where the part is likeliest (``score``: that likelihood's peak);
            the agent keeps it only when its calibrated guess model says it is likely right.
    """

    label: str
    object: str | None = None
    image_index: int = Field(0, ge=0)
    mask: Mask
    score: float = Field(1.0, ge=0.0, le=1.0)
    source: str = "unknown"
    kind: str = Field("part", pattern="^(part|object)$")
    guess: bool = False


class ImageRef:
    """An image given as a path, a PIL image or an ``H x W x 3`` uint8 array.

    Files are read with a memory budget (see :mod:`mereo.images`): huge images are decoded at a
    reduced scale or refused before their pixels are decoded; 16-bit images are scaled to 8 bits;
    uint16 arrays are scaled, bool arrays become 0/255, float arrays must be finite and in [0, 1].

    The pixels are loaded once, validated, converted to RGB, and hashed (sha256 of the shape and
    the RGB bytes), so tools can cache features by content.

    Raises:
        InvalidImageError: missing file, not an image, truncated file, too small, unusable array.
    """

    def __init__(self, source: str | Path | Image.Image | np.ndarray | ImageRef, *, max_side: int = MAX_SIDE):
        self.notes: list[str] = []
        self._hash: str | None = None
        self.array: np.ndarray
        self.name: str
        if isinstance(source, ImageRef):
            self.name = source.name
            self.array = source.array
            self.notes = list(source.notes)
            self._hash = source.sha256
            return
        self.name, arr = load_pixels(source, self.notes, max_side)
        h, w = arr.shape[:2]
        if min(h, w) < MIN_SIDE:
            raise InvalidImageError(
                f"image {self.name} is {w}x{h} pixels; images must be at least {MIN_SIDE}x{MIN_SIDE}. "
                "Pass a real photo or rendering of the object."
            )
        if max(h, w) > max_side:
            scale = max_side / max(h, w)
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            arr = np.asarray(Image.fromarray(arr).resize((nw, nh), Image.Resampling.BILINEAR))
            self.notes.append(f"downscaled from {w}x{h} to {nw}x{nh} (longest side limit {max_side})")
        self.array = np.ascontiguousarray(arr, dtype=np.uint8)

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def sha256(self) -> str:
        """Content hash of the RGB pixels (hex)."""
        if self._hash is None:
            h = hashlib.sha256()
            h.update(str(self.array.shape).encode())
            h.update(self.array.tobytes())
            self._hash = h.hexdigest()
        return self._hash

    def pil(self) -> Image.Image:
        return Image.fromarray(self.array)

    def __repr__(self) -> str:
        return f"ImageRef({self.name!r}, {self.width}x{self.height}, sha256={self.sha256[:12]})"


# -- JSON schemas and validation ---------------------------------------------------------------


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a pydantic model (draft 2020-12)."""
    return model.model_json_schema()


def validate(obj: Any, schema: dict[str, Any] | type[BaseModel], *, what: str = "value") -> Any:
    """Validate ``obj`` against a JSON schema (or a pydantic model's schema).

    Args:
        obj: a JSON-like value (dicts, lists, str, numbers), or a JSON string.
        schema: a JSON schema dict, or a pydantic model class whose schema is used.
        what: a name for the value used in the error message.

    Returns:
        ``obj`` (parsed when it was a JSON string).

    Raises:
        ValidationError: with the failing path and reason.
    """
    if isinstance(obj, (str, bytes)):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as e:
            raise ValidationError(f"{what} is not valid JSON: {e}") from e
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        schema = json_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path) or "<root>"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ValidationError(f"{what} does not match its schema at {path}: {first.message}{more}")
    return obj


SCHEMAS: dict[str, type[BaseModel]] = {"Mask": Mask, "PartMask": PartMask}
