"""The hand-written files in the real formats (``tests/fixtures/real_format``) and their seat mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "real_format"

SEAT = np.zeros((30, 40), dtype=bool)
SEAT[5:13, 10:31] = True
