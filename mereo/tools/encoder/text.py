"""Text embeddings of category names in the MiniLM space the encoder's object embedding is aligned to.

A category's vector is the normalised mean over a few prompt templates (prompt ensembling), the
same for training and inference, so any name — also one never seen in training — can be scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

#: Templates averaged into one text vector per name.
TEMPLATES = ("a {}", "a photo of a {}", "a drawing of a {}", "an image of a {}")


def name_embeddings(names: Sequence[str]) -> torch.Tensor:
    """``len(names) x 384`` float32 L2-normalised MiniLM vectors of object names."""
    from mereo.text import EMBED_DIM, get_encoder

    if not names:
        return torch.zeros(0, EMBED_DIM)
    enc = get_encoder()
    prompts = [t.format(n) for n in names for t in TEMPLATES]
    vecs = enc.encode(prompts).reshape(len(names), len(TEMPLATES), -1).mean(1)
    vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(min=1e-8)
    return torch.from_numpy(vecs.astype(np.float32))
