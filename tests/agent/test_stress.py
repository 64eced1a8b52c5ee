"""``mereo bench concurrency`` on a small scale: threads and forked processes share one warm agent
with no errors and the serial run's answers (issue 14, items 1 and 2)."""

from __future__ import annotations

import os

import pytest
import torch

from mereo.agent.stress import concurrency_main


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_threads_and_forks_agree_with_the_serial_run(capsys) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the forked children used to hang on the parent's OpenMP pool
    try:
        code = concurrency_main(
            [
                "--threads",
                "4",
                "--asks",
                "4",
                "--procs",
                "2",
                "--proc-asks",
                "2",
                "--questions",
                "4",
                "--timeout",
                "240",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "threads: 4 x 4 asks" in out and "forked: 2 processes x 2 asks" in out
    assert "total: errors 0, differing 0" in out, out
    assert code == 0
