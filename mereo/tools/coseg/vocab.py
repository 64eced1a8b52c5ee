"""Open-vocabulary labels: names from the knowledge base, embedded with the offline MiniLM.

Calico-small predicts a 384-d label embedding per mask; the label is the vocabulary entry whose
MiniLM sentence embedding is most similar. The vocabulary is the knowledge base's object or part
names by default (plus any names a caller adds), so a label is never limited to training names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from mereo.tools.base import CosegTask


@lru_cache(maxsize=1)
def _kb_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from mereo.knowledge.hierarchy import PartHierarchy

    kb = PartHierarchy.default()
    return tuple(kb.object_vocabulary()), tuple(kb.part_vocabulary())


def kind_of(task: CosegTask) -> str:
    """``"object"`` for the common-objects task, ``"part"`` for the two part tasks."""
    return "object" if task == "common_objects" else "part"


@dataclass
class Vocabulary:
    """Names and their unit-norm MiniLM embeddings.

    Attributes:
        names: the labels.
        embeddings: ``len(names) x 384`` float32, L2-normalised.
    """

    names: list[str]
    embeddings: torch.Tensor

    @classmethod
    def of(cls, names: Iterable[str]) -> Vocabulary:
        """Embed ``names`` (deduplicated, order kept) with the shared MiniLM encoder."""
        from mereo.text import get_encoder

        uniq = list(dict.fromkeys(n for n in names if n))
        emb = get_encoder().encode(uniq) if uniq else np.zeros((0, 384), np.float32)
        return cls(uniq, torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32)))

    def index(self, name: str) -> int:
        return self.names.index(name)

    def classify(self, label_embeddings: torch.Tensor) -> tuple[list[str], torch.Tensor]:
        """Nearest name for each row of ``label_embeddings`` (``N x 384``).

        Returns:
            ``(names, cosine similarities N)``.
        """
        if len(self.names) == 0 or label_embeddings.shape[0] == 0:
            return [], torch.zeros(0)
        sims = label_embeddings.float() @ self.embeddings.T
        best, idx = sims.max(dim=1)
        return [self.names[int(i)] for i in idx], best


@lru_cache(maxsize=8)
def default_vocabulary(kind: str, extra: tuple[str, ...] = ()) -> Vocabulary:
    """The knowledge base's ``kind`` names (``"object"`` or ``"part"``) plus ``extra``."""
    objects, parts = _kb_names()
    base: Sequence[str] = objects if kind == "object" else parts
    return Vocabulary.of([*base, *extra])
