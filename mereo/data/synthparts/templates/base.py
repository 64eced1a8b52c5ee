"""The template type and small helpers the category templates share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mereo.data.synthparts.draw import Shape, line, rect

#: A drawn object: ``(part label, shape)`` pairs in drawing order (back to front).
Parts = list[tuple[str, Shape]]


@dataclass(frozen=True)
class Template:
    """How to draw one object category.

    Attributes:
        name: the category (a knowledge-base object name, e.g. ``"chair"``).
        supercategory: ``"furniture"``, ``"vehicle"``, ``"animal"``, ``"tableware"`` or ``"household"``.
        parts: every part label ``build`` can draw (sorted); optional ones included.
        build: ``build(rng) -> Parts`` in object coordinates (the object fills about ``[-1, 1]^2``).
        novel: held out of train and val (only in the ``novel`` split).
    """

    name: str
    supercategory: str
    parts: tuple[str, ...]
    build: Callable[[np.random.Generator], Parts]
    novel: bool = False


def u(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A uniform float in ``[lo, hi)``."""
    return float(rng.uniform(lo, hi))


def chance(rng: np.random.Generator, p: float) -> bool:
    """True with probability ``p``."""
    return bool(rng.random() < p)


def spread(x0: float, x1: float, n: int) -> list[float]:
    """``n`` evenly spaced positions from ``x0`` to ``x1`` (the middle when ``n == 1``)."""
    if n == 1:
        return [(x0 + x1) / 2]
    return [x0 + (x1 - x0) * i / (n - 1) for i in range(n)]


def legs(
    rng: np.random.Generator,
    x0: float,
    x1: float,
    top: float,
    bottom: float,
    n: int,
    width: float,
    splay: float = 0.0,
    label: str = "leg",
) -> Parts:
    """``n`` legs seen from the front: the outer pair in front, the others behind and shorter.

    Args:
        x0, x1: x of the outermost legs' centres.
        top, bottom: y where the legs start and end (front legs).
        n: number of legs (1-6).
        width: leg width in object units.
        splay: how far the outer legs' feet lean outwards (object units).
    """
    xs = spread(x0, x1, n)
    back: Parts = []
    front: Parts = []
    for i, x in enumerate(xs):
        outer = i in (0, len(xs) - 1)
        lean = splay * (-1 if x < (x0 + x1) / 2 else 1) if outer else 0.0
        end = bottom if outer or n <= 2 else bottom - (bottom - top) * 0.12
        if splay:
            shape = line([(x, top), (x + lean, end)], width)
        else:
            shape = rect(x, (top + end) / 2, width, end - top)
        (front if outer or n <= 2 else back).append((label, shape))
    return back + front
