"""Loading published transformers checkpoints (a hub id or a ``save_pretrained`` folder) for backends.

Full-size backends (``sam3``, ``owlv2``, ``grounding-dino``, ``dinov2``, the ``transformers`` LMM)
name their weights after the backend name's ``:``. Nothing is fetched at import; a hub id is read
from the local Hugging Face cache, and fetched at build time only when the machine is online and
``HF_HUB_OFFLINE`` is not set (the Makefile sets it). A model that cannot be loaded becomes a
:class:`~mereo.errors.CheckpointError` that names it and says how to get it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from mereo.errors import CheckpointError

T = TypeVar("T")

#: Backend key -> (what the model is, the hub id users usually pass). Used by messages and presets.
HUB_MODELS: dict[str, tuple[str, str]] = {
    "sam3": ("SAM 3", "facebook/sam3"),
    "owlv2": ("OWLv2", "google/owlv2-base-patch16-ensemble"),
    "grounding-dino": ("Grounding DINO", "IDEA-Research/grounding-dino-tiny"),
    "dinov2": ("DINOv2", "facebook/dinov2-base"),
    "transformers": ("a vision-language model", "HuggingFaceTB/SmolVLM-256M-Instruct"),
}


def offline() -> bool:
    """True when the hub must not be contacted (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(f.strip().lower() in ("1", "true", "yes", "on") for f in flags)


def how_to_get(source: str, backend: str) -> str:
    """The sentence that tells a user how to put ``source`` on disk for ``backend``."""
    local = f"models/{source.rstrip('/').split('/')[-1]}"
    return (
        f"get it with `huggingface-cli download {source} --local-dir {local}` on a machine with network, "
        f"then pass '{backend}:{local}' (or keep the hub id once it is in the Hugging Face cache)"
    )


def is_local(source: str) -> bool:
    """Whether ``source`` names a folder (an existing path, or one written like a path)."""
    return Path(source).expanduser().exists() or source.startswith((".", "/", "~"))


def available(source: str) -> bool:
    """Whether the weights ``source`` names can be loaded without network.

    A folder must hold a ``config.json``; a hub id must have its ``config.json`` in the local
    Hugging Face cache.
    """
    if is_local(source):
        return (Path(source).expanduser() / "config.json").is_file()
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source, "config.json")
    except Exception:  # noqa: BLE001 - a malformed repo id is simply not available
        return False
    return isinstance(found, str)


def require_source(source: str | None, backend: str) -> str:
    """The backend argument, or a CheckpointError that says what to pass."""
    what, example = HUB_MODELS.get(backend, (backend, "<hub id>"))
    if not source:
        raise CheckpointError(
            f"the {backend} backend needs {what} weights: '{backend}:{example}' (a hub id in the local "
            f"cache) or '{backend}:/path/to/save_pretrained/folder'; {how_to_get(example, backend)}."
        )
    return source


def load(loader: Callable[..., T], source: str, backend: str, **kwargs: Any) -> T:
    """``loader(source, **kwargs)`` (a ``from_pretrained``) with errors turned into CheckpointError.

    Raises:
        CheckpointError: the folder is missing or not a checkpoint of that kind, or the hub id is
            not on disk and cannot be fetched; the message names the model and how to get it.
    """
    what, _ = HUB_MODELS.get(backend, (backend, ""))
    path = Path(source).expanduser()
    if is_local(source) and not path.is_dir():
        raise CheckpointError(
            f"{what} weights folder not found: {source}. {how_to_get(HUB_MODELS[backend][1], backend)}."
            if backend in HUB_MODELS
            else f"weights folder not found: {source}."
        )
    target = str(path) if is_local(source) else source
    if not is_local(source) and offline():
        kwargs.setdefault("local_files_only", True)
    try:
        return loader(target, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as e:
        if is_local(source):
            raise CheckpointError(
                f"could not load {what} from the folder {source}: {type(e).__name__}: {str(e)[:300]}. "
                "It should be a `save_pretrained` folder of that model (config.json, weights, processor)."
            ) from e
        raise CheckpointError(
            f"{what} {source!r} is not on disk and could not be fetched "
            f"({'HF_HUB_OFFLINE is set' if offline() else type(e).__name__}); {how_to_get(source, backend)}."
        ) from e


def missing_weights(backends: Mapping[str, str]) -> list[str]:
    """One line per model named in ``backends`` (family -> backend name) that is not on disk.

    Only hub-loaded backends (:data:`HUB_MODELS`) are checked; hub ids count as missing only when
    the machine is offline (online, they are fetched when the backend is built).
    """
    lines = []
    for family, name in backends.items():
        key, _, arg = name.partition(":")
        if key not in HUB_MODELS:
            continue
        what = HUB_MODELS[key][0]
        if not arg:
            lines.append(f"{family}={name}: names no {what} weights; pass '{key}:{HUB_MODELS[key][1]}'")
        elif is_local(arg) and not available(arg):
            lines.append(
                f"{family}={name}: no {what} checkpoint in {arg}; {how_to_get(HUB_MODELS[key][1], key)}"
            )
        elif not is_local(arg) and offline() and not available(arg):
            get = how_to_get(arg, key)
            lines.append(f"{family}={name}: {what} {arg} is not in the Hugging Face cache; {get}")
    return lines
