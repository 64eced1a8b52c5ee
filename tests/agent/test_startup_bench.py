"""``mereo bench startup``: one run of each step prints a positive number of seconds."""

from __future__ import annotations

import re

import pytest

from mereo.agent.startup import STEPS
from mereo.cli import main


@pytest.mark.slow  # four fresh processes, one a whole `mereo ask` (about 30 s on 2 busy cores)
def test_bench_startup_prints_each_timing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "startup", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for name in (
        *STEPS,
        "the question (warm agent)",
        "mereo ask / import torch",
        "target: 2 x torch + question",
    ):
        m = re.search(rf"^{re.escape(name)}\s+([0-9.]+) (s|x)\b", out, re.M)
        assert m, f"{name!r} missing from:\n{out}"
        assert float(m.group(1)) > 0
    assert re.search(r"\((met|not met)\)$", out, re.M)
