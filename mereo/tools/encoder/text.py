"""Text embeddings of category names in the MiniLM space the encoder's object embedding is aligned to.

A category's vector is the normalised mean over a few prompt templates (prompt ensembling), the
same for training and inference, so any name — also one never seen in training — can be scored.
The vectors of the committed encoder's category names ship precomputed in
``name_vectors.safetensors`` (written by :func:`write_name_vectors`; a test checks them against a
fresh MiniLM computation), so a fresh process does not run MiniLM over 128 prompts before its
first question; any other name is computed on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch

#: Templates averaged into one text vector per name.
TEMPLATES = ("a {}", "a photo of a {}", "a drawing of a {}", "an image of a {}")
#: The packaged precomputed vectors (tensor name = category name).
STORED = "name_vectors.safetensors"

_lock = threading.Lock()
_stored: dict[str, torch.Tensor] | None = None


def compute_name_embeddings(names: Sequence[str]) -> torch.Tensor:
    """``len(names) x 384`` vectors computed with MiniLM (no precomputed table)."""
    from mereo.text import EMBED_DIM, get_encoder

    if not names:
        return torch.zeros(0, EMBED_DIM)
    enc = get_encoder()
    prompts = [t.format(n) for n in names for t in TEMPLATES]
    vecs = enc.encode(prompts).reshape(len(names), len(TEMPLATES), -1).mean(1)
    vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(min=1e-8)
    return torch.from_numpy(vecs.astype(np.float32))


def stored_vectors() -> dict[str, torch.Tensor]:
    """The packaged name -> vector table (empty when the file is missing)."""
    global _stored
    with _lock:
        if _stored is None:
            from safetensors.torch import load_file

            ref = resources.files("mereo.tools.encoder").joinpath(STORED)
            _stored = dict(load_file(str(ref))) if ref.is_file() else {}
        return _stored


def name_embeddings(names: Sequence[str]) -> torch.Tensor:
    """``len(names) x 384`` float32 L2-normalised MiniLM vectors of object names."""
    from mereo.text import EMBED_DIM

    if not names:
        return torch.zeros(0, EMBED_DIM)
    table = stored_vectors()
    missing = [n for n in dict.fromkeys(names) if n not in table]
    fresh = dict(zip(missing, compute_name_embeddings(missing), strict=True)) if missing else {}
    return torch.stack([table[n] if n in table else fresh[n] for n in names])


def write_name_vectors(names: Sequence[str], path: str | Path | None = None) -> Path:
    """Compute and save the vectors of ``names`` (default: the packaged file)."""
    from safetensors.torch import save_file

    out = Path(path) if path is not None else Path(__file__).with_name(STORED)
    vecs = compute_name_embeddings(list(names))
    save_file({n: v.contiguous() for n, v in zip(names, vecs, strict=True)}, str(out))
    return out


if __name__ == "__main__":  # python -m mereo.tools.encoder.text: refresh the packaged vectors
    from mereo.tools.encoder.runtime import load_encoder

    print(write_name_vectors(load_encoder().category_names))
