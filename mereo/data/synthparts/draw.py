"""Shapes in object coordinates and their rasterisation into exact pixel masks.

Object coordinates: the object roughly fills the box ``[-1, 1] x [-1, 1]``, ``x`` to the right,
``y`` downwards (image convention). A :class:`Pose` maps them to pixels (scale, rotation, mirror,
translation). Every shape becomes a polygon or a thick polyline and is drawn with PIL's
``ImageDraw`` into an ``H x W`` mask, so masks are exact (no anti-aliasing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

ShapeKind = Literal["poly", "line"]


@dataclass(frozen=True)
class Shape:
    """One primitive in object coordinates.

    Attributes:
        kind: ``"poly"`` (filled polygon) or ``"line"`` (polyline with a width).
        points: ``N x 2`` float array of ``(x, y)`` object coordinates.
        width: line width in object units (``"line"`` only).
        closed: whether a line returns to its first point (rings).
    """

    kind: ShapeKind
    points: np.ndarray
    width: float = 0.0
    closed: bool = False


# -- constructors (object coordinates) -----------------------------------------------------------


def _rotate(pts: np.ndarray, cx: float, cy: float, angle: float) -> np.ndarray:
    if angle == 0.0:
        return pts
    c, s = math.cos(angle), math.sin(angle)
    d = pts - (cx, cy)
    return np.stack([d[:, 0] * c - d[:, 1] * s, d[:, 0] * s + d[:, 1] * c], axis=1) + (cx, cy)


def rect(cx: float, cy: float, w: float, h: float, angle: float = 0.0) -> Shape:
    """Axis-aligned rectangle of size ``w x h`` centred at ``(cx, cy)``, rotated by ``angle`` rad."""
    pts = np.array(
        [
            [cx - w / 2, cy - h / 2],
            [cx + w / 2, cy - h / 2],
            [cx + w / 2, cy + h / 2],
            [cx - w / 2, cy + h / 2],
        ]
    )
    return Shape("poly", _rotate(pts, cx, cy, angle))


def box(x0: float, y0: float, x1: float, y1: float) -> Shape:
    """Rectangle from its corners."""
    return rect((x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0), abs(y1 - y0))


def ellipse(
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    angle: float = 0.0,
    start: float = 0.0,
    end: float = 2 * math.pi,
    n: int = 28,
) -> Shape:
    """Ellipse (or a pie slice of it from ``start`` to ``end`` rad) with radii ``rx``, ``ry``."""
    full = abs(end - start) >= 2 * math.pi - 1e-9
    t = np.linspace(start, end, n, endpoint=not full)
    pts = np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)
    if not full:
        pts = np.vstack([pts, [[cx, cy]]])
    return Shape("poly", _rotate(pts, cx, cy, angle))


def poly(points: list[tuple[float, float]] | np.ndarray) -> Shape:
    """Filled polygon through ``points``."""
    return Shape("poly", np.asarray(points, dtype=float))


def line(points: list[tuple[float, float]] | np.ndarray, width: float) -> Shape:
    """Thick polyline (legs, poles, tails) of ``width`` object units."""
    return Shape("line", np.asarray(points, dtype=float), width=width)


def arc(
    cx: float, cy: float, rx: float, ry: float, start: float, end: float, width: float, n: int = 16
) -> Shape:
    """Thick elliptic arc from ``start`` to ``end`` rad (handles, tails)."""
    t = np.linspace(start, end, n)
    return Shape("line", np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1), width=width)


def ring(cx: float, cy: float, rx: float, ry: float, width: float, n: int = 28) -> Shape:
    """Closed elliptic ring (bicycle wheels, rims)."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return Shape(
        "line", np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1), width=width, closed=True
    )


def curve(
    p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], width: float, n: int = 12
) -> Shape:
    """Thick quadratic Bezier curve from ``p0`` to ``p2`` with control point ``p1``."""
    t = np.linspace(0, 1, n)[:, None]
    a, b, c = (np.asarray(p, dtype=float) for p in (p0, p1, p2))
    return Shape("line", (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c, width=width)


# -- pose and rasterisation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pose:
    """Object-to-pixel transform: mirror in x, rotate, scale, then translate.

    Attributes:
        cx, cy: pixel position of the object origin.
        scale: pixels per object unit (half the object's size in pixels).
        angle: rotation in radians (positive turns clockwise on screen, since y points down).
        mirror: flip left-right in object coordinates before rotating.
        aspect: extra x stretch (proportion variation), 1.0 for none.
    """

    cx: float
    cy: float
    scale: float
    angle: float = 0.0
    mirror: bool = False
    aspect: float = 1.0

    def apply(self, pts: np.ndarray) -> np.ndarray:
        """Map ``N x 2`` object coordinates to ``N x 2`` pixel coordinates."""
        x = pts[:, 0] * self.aspect * (-1.0 if self.mirror else 1.0)
        y = pts[:, 1]
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.stack(
            [self.cx + self.scale * (x * c - y * s), self.cy + self.scale * (x * s + y * c)], axis=1
        )


def rasterize(shapes: list[Shape], pose: Pose, height: int, width: int) -> np.ndarray:
    """Draw shapes (unioned) into an ``H x W`` bool mask under ``pose``."""
    img = Image.new("L", (width, height), 0)  # "L" with values 0/1 converts to numpy faster than "1"
    draw = ImageDraw.Draw(img)
    for shape in shapes:
        pts = pose.apply(shape.points)
        xy = [(float(x), float(y)) for x, y in pts]
        if shape.kind == "poly":
            if len(xy) >= 3:
                draw.polygon(xy, fill=1)
            continue
        w = max(1, int(round(shape.width * pose.scale)))
        if shape.closed:
            xy = [*xy, xy[0], xy[1]]
        draw.line(xy, fill=1, width=w, joint="curve")
        if w >= 3 and not shape.closed:  # round caps
            r = w / 2
            for x, y in (xy[0], xy[-1]):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=1)
    return np.array(img, dtype=np.uint8).view(bool)


def object_extent(shapes: list[Shape]) -> tuple[float, float, float, float]:
    """Bounding box ``x0, y0, x1, y1`` of shapes in object coordinates (line widths included)."""
    pts = np.vstack([s.points for s in shapes])
    pad = max((s.width / 2 for s in shapes), default=0.0)
    return (
        float(pts[:, 0].min() - pad),
        float(pts[:, 1].min() - pad),
        float(pts[:, 0].max() + pad),
        float(pts[:, 1].max() + pad),
    )
