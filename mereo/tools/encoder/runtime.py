"""Loading the shared encoder and encoding an image once per agent (through ``ToolContext.cache``).

Every embedded tool that reads the shared encoder calls :func:`encode`; the first call on an
image runs one forward pass and stores an :class:`Encoded` under the namespace
``"encoder:<name>"`` keyed by the image's sha256, later calls (any tool) are cache hits. Each
call leaves a note in the trace: ``{"tool": "encoder", "backend": name, "image": sha[:12],
"cache": "miss" | "hit"}``, so the trace shows one forward per new image.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mereo.errors import CheckpointError
from mereo.tools.base import ToolContext
from mereo.tools.encoder.model import NAME, EncoderConfig, SynthPartsCNN, build_model
from mereo.types import ImageRef


@dataclass(frozen=True)
class Encoded:
    """The encoder's outputs for one image, batch dimension dropped, on the CPU.

    The maps cover the whole image resized to the training side ``S`` (``S/4 x S/4`` cells);
    ``size`` is the original ``(height, width)`` in pixels, the frame masks are returned in.

    Attributes:
        size: ``(H, W)`` of the original image.
        features: ``dim x S/4 x S/4`` dense features.
        pooled: ``text_dim`` image vector.
        part: ``(n_parts + 1) x S/4 x S/4`` part-kind logits (0 = background).
        sem: ``text_dim x S/4 x S/4`` L2-normalised object embeddings.
        inst: ``inst_dim x S/4 x S/4`` instance embeddings.
        corr: ``corr_dim x S/4 x S/4`` L2-normalised correspondence embeddings.
    """

    size: tuple[int, int]
    features: torch.Tensor
    pooled: torch.Tensor
    part: torch.Tensor
    sem: torch.Tensor
    inst: torch.Tensor
    corr: torch.Tensor


class SharedEncoder:
    """A loaded encoder in eval mode with the names its heads were trained on.

    Args:
        model: the network.
        name: the backend / checkpoint name (cache namespace ``"encoder:<name>"``).
        category_names: the object names the category head saw (index order).
        manifest: the checkpoint's manifest (inference settings such as ``match_threshold``).
    """

    def __init__(
        self, model: SynthPartsCNN, name: str, category_names: list[str], manifest: dict | None = None
    ):
        self.model = model.eval()
        self.manifest = dict(manifest or {})
        self.name = name
        self.category_names = list(category_names)
        self.part_labels = list(model.cfg.part_labels)
        self._lock = threading.Lock()

    @property
    def namespace(self) -> str:
        return f"encoder:{self.name}"

    def _batch(self, arrays: list[np.ndarray]) -> torch.Tensor:
        s = self.model.cfg.image_size
        xs = []
        for array in arrays:
            x = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].float()
            if x.shape[-2:] != (s, s):
                x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
            xs.append(x)
        return torch.cat(xs).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()  # not inference_mode: callers may mix the outputs with the model's parameters
    def forward_many(self, arrays: list[np.ndarray]) -> list[Encoded]:
        """Encode ``H x W x 3`` uint8 RGB images (each resized to the training side) in one batch."""
        if not arrays:
            return []
        x = self._batch(arrays)
        with self._lock:
            out = self.model(x)
        return [
            Encoded(
                size=(int(a.shape[0]), int(a.shape[1])),
                features=out.features[i].contiguous(),
                pooled=out.pooled[i],
                part=out.part[i].contiguous(),
                sem=out.sem[i].contiguous(),
                inst=out.inst[i].contiguous(),
                corr=out.corr[i].contiguous(),
            )
            for i, a in enumerate(arrays)
        ]

    def forward(self, array: np.ndarray) -> Encoded:
        """Encode one ``H x W x 3`` uint8 RGB image (resized to the training side)."""
        return self.forward_many([array])[0]

    def encode(self, ctx: ToolContext, image: ImageRef) -> Encoded:
        """The cached encoding of ``image`` (one forward per new image per cache)."""
        enc, hit = ctx.cache.get_or_compute(self.namespace, image.sha256, lambda: self.forward(image.array))
        ctx.note(tool="encoder", backend=self.name, image=image.sha256[:12], cache="hit" if hit else "miss")
        return enc

    def encode_many(
        self,
        ctx: ToolContext,
        images: list[ImageRef],
        min_batch: int = 2,
        namespace: str | None = None,
        notes: Sequence[dict[str, Any]] | None = None,
        **note: Any,
    ) -> None:
        """Encode the images not yet cached in one batched forward and cache each (a question's
        images are encoded together before its tools run: one forward of a batch of two costs
        about 0.6 of two forwards). Fewer than ``min_batch`` new images are left to the first tool
        that reads them. ``namespace``: the cache's (default :attr:`namespace`; zoomed crops keep
        their own). Each new image leaves its ``"miss"`` note (with ``batch``, ``note`` and its
        own ``notes[i]``, which may replace the ``image`` it names)."""
        ns = namespace or self.namespace
        own = list(notes) if notes is not None else [{} for _ in images]
        new: dict[str, tuple[ImageRef, dict[str, Any]]] = {}
        for im, extra in zip(images, own, strict=True):
            if (ns, im.sha256) not in ctx.cache:
                new.setdefault(im.sha256, (im, extra))
        if not new or len(new) < min_batch:
            return
        batch = list(new.values())
        for (im, extra), enc in zip(batch, self.forward_many([im.array for im, _ in batch]), strict=True):
            ctx.cache.put(ns, im.sha256, enc)
            ctx.note(
                **{
                    "tool": "encoder",
                    "backend": self.name,
                    "image": im.sha256[:12],
                    "cache": "miss",
                    "batch": len(batch),
                    **note,
                    **extra,
                }
            )


_LOADED: dict[tuple[str, str], SharedEncoder] = {}
_LOAD_LOCK = threading.Lock()


def from_state(state: dict[str, torch.Tensor], manifest: dict, name: str | None = None) -> SharedEncoder:
    """Build a :class:`SharedEncoder` from checkpoint tensors and their manifest."""
    try:
        cfg = EncoderConfig.from_dict(manifest["config"])
        model = build_model(cfg)
        model.load_state_dict(state)
    except (KeyError, RuntimeError, TypeError) as e:
        raise CheckpointError(
            f"the encoder checkpoint does not fit the encoder ({e}); retrain it with `mereo train encoder`."
        ) from e
    return SharedEncoder(
        model, name or str(manifest.get("name", NAME)), list(manifest.get("category_names", [])), manifest
    )


def load_encoder(path: str | Path | None = None) -> SharedEncoder:
    """The committed encoder (or ``<path>.safetensors`` with its ``.json`` manifest), loaded once
    per process and shared by every tool that reads it.

    Raises:
        CheckpointError: missing or corrupt checkpoint.
    """
    from mereo.checkpoints import load_checkpoint

    if path is None:
        directory, name = None, NAME
    else:
        p = Path(path)
        directory, name = p.parent, p.name.removesuffix(".safetensors").removesuffix(".json")
    key = (str(directory), name)
    with _LOAD_LOCK:
        if key not in _LOADED:
            state, manifest = load_checkpoint(name, directory)
            _LOADED[key] = from_state(state, manifest, name)
        return _LOADED[key]


def manifest_summary(enc: SharedEncoder) -> str:
    """A one-line description for logs."""
    return json.dumps(
        {"name": enc.name, "parts": len(enc.part_labels), "categories": len(enc.category_names)}
    )
