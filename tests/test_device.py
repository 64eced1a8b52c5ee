"""Device names and fork safety (issue 14, items 2 and 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from mereo.device import resolve_device
from mereo.errors import DeviceError, MereoError

ROOT = Path(__file__).resolve().parents[1]


def test_unknown_and_unavailable_devices_are_clear_errors() -> None:
    with pytest.raises(DeviceError, match="'cpu' or 'cuda'"):
        resolve_device("tpu")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(MereoError, match="no usable CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(DeviceError):
        resolve_device("cuda:99")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")


FORK_SCRIPT = """
import os, sys, torch
import mereo.device  # registers the at-fork handler
torch.set_num_threads(2)
x = torch.randn(512, 512)
for _ in range(5):
    (x @ x).sum(); torch.nn.functional.conv2d(torch.randn(4, 8, 64, 64), torch.randn(8, 8, 3, 3))
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        for _ in range(5):
            (x @ x).sum(); torch.nn.functional.conv2d(torch.randn(4, 8, 64, 64), torch.randn(8, 8, 3, 3))
        os._exit(0 if torch.get_num_threads() == 1 else 3)
    pids.append(pid)
codes = [os.waitpid(p, 0)[1] for p in pids]
print(codes)
sys.exit(max(codes) and 1)
"""


def test_processes_forked_from_a_warm_torch_process_do_not_hang() -> None:
    """A child forked after torch ran with 2 threads computes and exits (it used to hang in a futex)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # no OMP_NUM_THREADS: torch's default pool
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(FORK_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and its hung children
        proc.communicate()
        pytest.fail("a process forked from a warm torch process hung (no exit within 90 s)")
    assert proc.returncode == 0, out
