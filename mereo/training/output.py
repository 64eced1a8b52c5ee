"""Writing a trained model: weights + manifest through :func:`mereo.checkpoints.save_checkpoint`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mereo.checkpoints import save_checkpoint


def write_checkpoint(
    name: str,
    state: dict[str, torch.Tensor],
    manifest: dict[str, Any],
    directory: str | Path | None = None,
    summary: str = "",
) -> dict[str, Any]:
    """Write ``<name>.safetensors`` and ``<name>.json`` atomically (sha256 and size filled in) and
    print one line: the name, the size, the sha256 prefix and ``summary``.

    Returns:
        The manifest as written.
    """
    written = save_checkpoint(name, state, manifest, directory)
    print(
        f"wrote {name} ({written['size_bytes'] / 1e6:.2f} MB, sha256 {written['sha256'][:12]})"
        + (f"; {summary}" if summary else ""),
        flush=True,
    )
    return written
