"""The embedded default's trained checkpoints: safetensors weights plus a JSON manifest.

``save_checkpoint`` writes both atomically; ``load_checkpoint`` checks the sha256 recorded in the
manifest before it returns the tensors, so a corrupt or swapped file is caught with a clear error.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mereo.errors import CheckpointError

CHECKPOINT_DIR = Path(__file__).resolve().parent
#: which `mereo train <family>` command rebuilds each embedded checkpoint
TRAIN_COMMAND = {
    "synthparts-cnn": "encoder",
    "plum-small": "segment",
    "dinov2-small": "correspond",
    "clip-small": "recognize",
    "calico-small": "coseg",
}


def _train_hint(name: str) -> str:
    family = TRAIN_COMMAND.get(name)
    return f"`mereo train {family}`" if family else "`make train`"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _paths(name: str, directory: str | Path | None) -> tuple[Path, Path]:
    d = Path(directory) if directory is not None else CHECKPOINT_DIR
    return d / f"{name}.safetensors", d / f"{name}.json"


def save_checkpoint(
    name: str, state: dict[str, torch.Tensor], manifest: dict[str, Any], directory: str | Path | None = None
) -> dict[str, Any]:
    """Write ``<name>.safetensors`` and ``<name>.json`` (with sha256 and size filled in)."""
    weights, meta = _paths(name, directory)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    fd, tmp = tempfile.mkstemp(dir=weights.parent, suffix=".tmp")
    os.close(fd)
    save_file(state, tmp)
    os.replace(tmp, weights)
    manifest = dict(manifest)
    manifest.update(
        name=name,
        sha256=sha256_file(weights),
        size_bytes=weights.stat().st_size,
        torch_version=torch.__version__,
        created=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    _write_manifest(meta, manifest)
    return manifest


def _write_manifest(meta: Path, manifest: dict[str, Any]) -> None:
    """Write the JSON manifest atomically (a temporary file, then a rename)."""
    tmp_meta = meta.with_suffix(".json.tmp")
    tmp_meta.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_meta, meta)


#: Options that only say where a checkpoint is written; they are left out of its recorded command.
OUTPUT_OPTIONS = ("--out", "--out-dir")


def train_command(family: str, argv: list[str] | tuple[str, ...] | None) -> str:
    """The ``mereo train <family> ...`` command a manifest records, without output-location options.

    >>> train_command("coseg", ["--threads", "1", "--out", "runs/x", "--out-dir=runs/y"])
    'mereo train coseg --threads 1'
    """
    kept: list[str] = []
    skip = False
    for arg in argv or []:
        if skip:
            skip = False
            continue
        if arg in OUTPUT_OPTIONS:
            skip = True
            continue
        if arg.split("=", 1)[0] in OUTPUT_OPTIONS:
            continue
        kept.append(arg)
    return " ".join(["mereo", "train", family, shlex.join(kept)]).rstrip()


def update_manifest(name: str, fields: dict[str, Any], directory: str | Path | None = None) -> dict[str, Any]:
    """Set top-level ``fields`` of a checkpoint's manifest (atomically); the weights are untouched."""
    _, meta = _paths(name, directory)
    manifest = read_manifest(name, directory)
    manifest.update(fields)
    _write_manifest(meta, manifest)
    return manifest


def read_manifest(name: str, directory: str | Path | None = None) -> dict[str, Any]:
    _, meta = _paths(name, directory)
    if not meta.exists():
        raise CheckpointError(f"no manifest {meta}; train it with {_train_hint(name)} or reinstall mereo.")
    return json.loads(meta.read_text())


def load_checkpoint(
    name: str, directory: str | Path | None = None, verify: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load the tensors and manifest of checkpoint ``name``.

    Raises:
        CheckpointError: missing file, sha256 mismatch, or not a safetensors file.
    """
    weights, _ = _paths(name, directory)
    manifest = read_manifest(name, directory)
    if not weights.exists():
        raise CheckpointError(
            f"checkpoint weights {weights} are missing; rebuild them with {_train_hint(name)}."
        )
    if verify and manifest.get("sha256") and sha256_file(weights) != manifest["sha256"]:
        raise CheckpointError(
            f"{weights} does not match the sha256 in its manifest: the file is corrupt "
            "or was replaced. Reinstall mereo or retrain with `make train`."
        )
    return load_safetensors(weights), manifest


def load_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file with a clear error for a missing or malformed file."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint file not found: {p}")
    try:
        return load_file(str(p))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{p} is not a readable safetensors file ({e}).") from e


def torch_load(path: str | Path) -> Any:
    """``torch.load`` of a user's ``.pth`` checkpoint, always with ``weights_only=True``."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint file not found: {p}")
    try:
        return torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file
        raise CheckpointError(
            f"could not load {p} as a PyTorch weights file ({type(e).__name__}: {e}). "
            "Mereo loads only plain state dicts (weights_only=True)."
        ) from e
