"""Hand-made 1 x 20 strip masks shared by the metric tests (a mask is a set of pixel columns)."""

from __future__ import annotations

import numpy as np

from mereo.types import Mask, PartMask

W = 20  # masks are 1 x 20 strips


def strip(cols, label: str = "part", image_index: int = 0, score: float = 1.0) -> PartMask:
    arr = np.zeros((1, W), dtype=bool)
    arr[0, list(cols)] = True
    return PartMask(label=label, mask=Mask.from_numpy(arr), image_index=image_index, score=score)


# Gold X = 0..9, Y = 10..19. Pred A = 0..14, B = 5..9.
# IoU(A,X) = 10/15, IoU(A,Y) = 5/20, IoU(B,X) = 5/10, IoU(B,Y) = 0.
X, Y = strip(range(10), "x"), strip(range(10, 20), "y")
A, B = strip(range(15), "a"), strip(range(5, 10), "b")


def exact(a: str, b: str) -> float:
    return float(a == b)
