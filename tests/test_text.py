"""The MiniLM encoder loads quietly (no progress bar or warning on every run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_minilm_loads_without_a_progress_bar() -> None:
    code = "from mereo.text import get_encoder\nassert get_encoder().encode(['seat']).shape == (1, 384)\n"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stderr + res.stdout == ""
