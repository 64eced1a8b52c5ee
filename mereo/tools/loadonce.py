"""Load a trained embedded checkpoint once per process (and device), shared by run-time tools."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoadOnce(Generic[T]):
    """A per-process cache of one committed checkpoint's loaded model, keyed by device.

    The key also holds the checkpoint file's modification time and size, so a changed file is
    loaded afresh. Thread-safe: one load per key even when tools are built in parallel.

    Args:
        name: the checkpoint's name under ``mereo/checkpoints/`` (``<name>.safetensors``).
        load: ``load(device)`` builds the model from that checkpoint; it raises the error that
            says what to do when the checkpoint is missing or does not fit.
    """

    def __init__(self, name: str, load: Callable[[str], T]) -> None:
        self.name = name
        self.load = load
        self._cache: dict[tuple[str, int, int], T] = {}
        self._lock = threading.Lock()

    def get(self, device: str = "auto") -> T:
        """The model for ``device``, loaded on first use (and when the checkpoint file changed)."""
        from mereo.checkpoints import CHECKPOINT_DIR

        try:
            st = (CHECKPOINT_DIR / f"{self.name}.safetensors").stat()
        except OSError:
            return self.load(device)  # raises the error that says what to do
        key = (device, st.st_mtime_ns, st.st_size)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self.load(device)
            return self._cache[key]
