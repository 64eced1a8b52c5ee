"""Device selection: CUDA when present (``device="auto"``), else the CPU; and fork safety.

Importing this module registers an ``os.register_at_fork`` handler: a process forked from one
that has run torch (e.g. a warm ``PartAgent``) uses one torch thread, because the OpenMP thread
pool of the parent does not survive ``fork`` and a parallel region in the child would wait on it
forever. Set more threads in the child with ``torch.set_num_threads`` only after an ``exec``
(``multiprocessing``'s ``spawn`` or ``forkserver``).
"""

from __future__ import annotations

import os

import torch

from mereo.errors import DeviceError

#: device types Mereo runs on
DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises:
        DeviceError: an unknown device name, or CUDA asked for where there is none.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise DeviceError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda' (or 'cuda:N').") from e
    if dev.type not in DEVICE_TYPES:
        raise DeviceError(f"Mereo runs on 'cpu' or 'cuda', not {dev.type!r}; use --device auto, cpu or cuda.")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {device!r} was asked for but this machine has no usable CUDA GPU "
                f"(torch {torch.__version__}); use --device cpu or --device auto."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
                "CUDA device(s) (cuda:0 ...)."
            )
    return dev


def _after_fork_in_child() -> None:
    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
