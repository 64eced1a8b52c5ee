"""all-MiniLM-L6-v2's BERT forward in plain torch, so the sentence encoder needs no transformers.

``import transformers`` costs more than ``import torch``; this module reads the checkpoint with
``safetensors`` and tokenises with ``tokenizers`` (the Rust WordPiece tokenizer transformers' fast
tokenizer wraps), and runs the post-norm BERT encoder (embeddings + LayerNorm, then per layer
self-attention -> add & LayerNorm -> GELU feed-forward -> add & LayerNorm). The result matches
``transformers.AutoModel``'s ``last_hidden_state`` to float32 rounding (tests/test_minilm.py).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mereo.errors import CheckpointError


@dataclass(frozen=True)
class BertConfig:
    """The fields of the checkpoint's ``config.json`` the forward uses."""

    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    layer_norm_eps: float = 1e-12
    max_position_embeddings: int = 512
    hidden_act: str = "gelu"

    @classmethod
    def from_dir(cls, path: Path) -> BertConfig:
        cfg = json.loads((path / "config.json").read_text()) if (path / "config.json").exists() else {}
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__ if k in cfg})


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The BERT weights in ``path`` (``model.safetensors``, else ``pytorch_model.bin``), keyed without
    a ``bert.`` prefix; the pooler and buffers such as ``position_ids`` are left out."""
    if (path / "model.safetensors").exists():
        from safetensors.torch import load_file

        raw = load_file(str(path / "model.safetensors"))
    elif (path / "pytorch_model.bin").exists():
        raw = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise CheckpointError(f"no model.safetensors or pytorch_model.bin in {path}")
    out = {}
    for k, v in raw.items():
        k = k.removeprefix("bert.")
        if k.startswith(("embeddings.", "encoder.")) and not k.endswith("position_ids"):
            out[k] = v.float()
    return out


class BertEncoder:
    """The encoder of a BERT checkpoint as a function of token ids and the attention mask."""

    def __init__(self, weights: dict[str, torch.Tensor], config: BertConfig, device: str = "cpu"):
        if config.hidden_act != "gelu":
            raise CheckpointError(f"unsupported activation {config.hidden_act!r} (expected gelu)")
        last = f"encoder.layer.{config.num_hidden_layers - 1}.output.LayerNorm.weight"
        missing = [k for k in ("embeddings.word_embeddings.weight", last) if k not in weights]
        if missing:
            raise CheckpointError(f"MiniLM checkpoint lacks {missing[:3]}")
        self.w = {k: v.to(device) for k, v in weights.items()}
        self.config = config

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        h = self.config.hidden_size
        return F.layer_norm(
            x, (h,), self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.config.layer_norm_eps
        )

    @torch.no_grad()
    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``B x T`` ids and mask (1 on real tokens) -> ``B x T x hidden`` last hidden states."""
        cfg, w = self.config, self.w
        b, t = input_ids.shape
        if t > cfg.max_position_embeddings:
            raise ValueError(f"{t} tokens, more than the {cfg.max_position_embeddings} positions")
        heads = cfg.num_attention_heads
        d = cfg.hidden_size // heads
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.position_embeddings.weight"][:t]
            + w["embeddings.token_type_embeddings.weight"][0]  # one segment: token type 0
        )
        x = self._norm(x, "embeddings.LayerNorm")
        # additive mask: padding keys get the most negative float, as transformers does
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, heads, d).transpose(1, 2)  # B x heads x T x d

        for i in range(cfg.num_hidden_layers):
            p = f"encoder.layer.{i}"
            q, k, v = (split(self._linear(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
            scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
            ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, cfg.hidden_size)
            x = self._norm(
                x + self._linear(ctx, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm"
            )
            hidden = F.gelu(self._linear(x, f"{p}.intermediate.dense"))
            x = self._norm(x + self._linear(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        return x


class WordPieceTokenizer:
    """``tokenizer.json`` via the ``tokenizers`` package: ids, mask, offsets and token strings,
    padded to the longest text and truncated to ``max_length`` (as transformers' fast tokenizer
    called with ``padding=True, truncation=True``). One configured copy per ``max_length``, so
    threads never change a tokenizer another one is using."""

    def __init__(self, path: Path):
        self._json = (path / "tokenizer.json").read_text(encoding="utf-8")
        self._by_length: dict[int, Any] = {}
        self._lock = threading.Lock()

    def _tokenizer(self, max_length: int) -> Any:
        with self._lock:
            tok = self._by_length.get(max_length)
            if tok is None:
                from tokenizers import Tokenizer

                tok = Tokenizer.from_str(self._json)
                pad = tok.token_to_id("[PAD]")
                tok.enable_padding(pad_id=0 if pad is None else pad, pad_token="[PAD]")
                tok.enable_truncation(max_length=max_length)
                self._by_length[max_length] = tok
            return tok

    def __call__(
        self, texts: list[str], max_length: int
    ) -> tuple[torch.Tensor, torch.Tensor, list[list[tuple[int, int]]], list[list[str]]]:
        """``B x T`` token ids and attention mask, and per text the offsets and token strings."""
        encs = self._tokenizer(max_length).encode_batch(texts)
        ids = torch.tensor([e.ids for e in encs], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encs], dtype=torch.long)
        offsets = [[(int(a), int(b)) for a, b in e.offsets] for e in encs]
        tokens = [list(e.tokens) for e in encs]
        return ids, mask, offsets, tokens
