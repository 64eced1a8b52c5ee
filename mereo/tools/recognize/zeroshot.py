"""Class text embeddings for zero-shot classification: prompt ensembles over object names."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mereo.tools.recognize.prompts import BACKGROUND_TEXTS, description_prompts, known_parts, object_prompts


def class_embeddings(clip, names: Sequence[str], describe: bool = False) -> torch.Tensor:
    """``C x E`` normalised class embeddings: mean of the prompt embeddings of each name.

    Args:
        clip: a :class:`~mereo.tools.recognize.model.ClipModel`.
        names: object names.
        describe: also average in descriptions from the knowledge base's part list of each name
            ("a teapot with base, body, handle, knob"), for names the model has not learnt.
    """
    rows = []
    for name in names:
        prompts = object_prompts(name)
        if describe:
            prompts += description_prompts(name, known_parts(name))
        emb = clip.encode_texts(prompts)
        rows.append(F.normalize(emb.mean(0), dim=0))
    return torch.stack(rows)


def background_embedding(clip) -> torch.Tensor:
    """``E`` normalised embedding of "background"."""
    return F.normalize(clip.encode_texts(list(BACKGROUND_TEXTS[:1])).mean(0), dim=0)
