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
from collections.abc import Iterator
from contextlib import contextmanager
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


def _fix_hint(name: str) -> str:
    hint = _train_hint(name)
    return f"restore the manifest that came with the weights (reinstall mereo), or retrain with {hint}"


def read_manifest(name: str, directory: str | Path | None = None) -> dict[str, Any]:
    """The manifest of checkpoint ``name``, checked: a JSON object with a 64-hex ``sha256`` and,
    when present, a ``config`` object and an integer ``size_bytes``.

    Raises:
        CheckpointError: missing, empty or malformed manifest; the message names the file and the fix.
    """
    _, meta = _paths(name, directory)
    if not meta.exists():
        raise CheckpointError(f"no manifest {meta}; train it with {_train_hint(name)} or reinstall mereo.")
    try:
        text = meta.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read the manifest {meta} ({e}); {_fix_hint(name)}.") from e
    if not text.strip():
        raise CheckpointError(f"the manifest {meta} is empty; {_fix_hint(name)}.")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(
            f"the manifest {meta} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}; "
            f"truncated?); {_fix_hint(name)}."
        ) from e
    _check_manifest(manifest, meta, name)
    return manifest


def _check_manifest(manifest: Any, meta: Path, name: str) -> None:
    if not isinstance(manifest, dict):
        raise CheckpointError(
            f"the manifest {meta} holds a JSON {type(manifest).__name__}, not an object; {_fix_hint(name)}."
        )
    digest = manifest.get("sha256")
    if not isinstance(digest, str) or not digest.strip():
        raise CheckpointError(
            f"the manifest {meta} has no sha256 of its weights (got {digest!r}); the digest is required "
            f"to check the weights' integrity; {_fix_hint(name)}."
        )
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
        raise CheckpointError(
            f"the sha256 in the manifest {meta} is not 64 hexadecimal digits ({digest[:80]!r}); "
            f"{_fix_hint(name)}."
        )
    if "config" in manifest and not isinstance(manifest["config"], dict):
        raise CheckpointError(
            f"'config' in the manifest {meta} must be a JSON object, got "
            f"{type(manifest['config']).__name__}; {_fix_hint(name)}."
        )
    size = manifest.get("size_bytes")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise CheckpointError(
            f"'size_bytes' in the manifest {meta} must be a whole number, got {size!r}; {_fix_hint(name)}."
        )


def load_checkpoint(
    name: str, directory: str | Path | None = None, verify: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load the tensors and manifest of checkpoint ``name``.

    Raises:
        CheckpointError: missing file, malformed manifest, sha256 mismatch, or not a safetensors file.
    """
    weights, meta = _paths(name, directory)
    manifest = read_manifest(name, directory)
    if not weights.exists():
        raise CheckpointError(
            f"checkpoint weights {weights} are missing; rebuild them with {_train_hint(name)}."
        )
    if verify and sha256_file(weights) != manifest["sha256"].lower():
        raise CheckpointError(
            f"{weights} does not match the sha256 in its manifest {meta}: the file is corrupt "
            f"or was replaced. Reinstall mereo or retrain with {_train_hint(name)}."
        )
    return load_safetensors(weights), manifest


@contextmanager
def config_must_fit(name: str, directory: str | Path | None = None) -> Iterator[None]:
    """Building a model from a manifest's config and loading its weights: any failure (a value of
    the wrong type, a shape that does not fit the weights) becomes a :class:`CheckpointError`
    naming the manifest and the fix.

    Example:
        >>> with config_must_fit("clip-small", directory):          # doctest: +SKIP
        ...     model = build(manifest["config"]); model.load_state_dict(state)
    """
    try:
        yield
    except CheckpointError:
        raise
    except Exception as e:  # model constructors raise many types for a bad config (a boundary)
        _, meta = _paths(name, directory)
        detail = " ".join(str(e).split())[:300]
        raise CheckpointError(
            f"the weights of {name} do not fit the config in its manifest {meta} "
            f"({type(e).__name__}: {detail}); {_fix_hint(name)}."
        ) from e


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
