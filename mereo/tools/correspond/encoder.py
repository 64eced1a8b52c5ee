"""A dense patch-feature encoder of the DINOv2 architecture (transformers ``Dinov2Model``).

The same wrapper serves the small trained checkpoint (``dinov2-small``) and published DINOv2
weights loaded with ``from_pretrained`` (``dinov2:<hub id or local dir>``): both take an
``H x W x 3`` uint8 image, resize it to a square of ``image_size`` pixels, normalise it with the
ImageNet mean and std, and return the final (layer-normed) patch tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mereo.device import resolve_device
from mereo.errors import CheckpointError
from mereo.tools.loadonce import LoadOnce

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The architecture of the embedded default: 128 px input, 8 px patches -> a 16 x 16 token grid.
SMALL_CONFIG: dict[str, Any] = {
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "mlp_ratio": 4,
    "patch_size": 8,
    "image_size": 128,
    "layerscale_value": 1.0,
    "drop_path_rate": 0.0,
}
CHECKPOINT_NAME = "dinov2-small"


def build_model(config: dict[str, Any] | None = None) -> torch.nn.Module:
    """A randomly initialised ``Dinov2Model`` (``SMALL_CONFIG`` unless another config is given)."""
    from transformers import Dinov2Config, Dinov2Model

    return Dinov2Model(Dinov2Config(**(config or SMALL_CONFIG)))


def to_pixels(images: np.ndarray | torch.Tensor, image_size: int) -> torch.Tensor:
    """Batch ``B x H x W x 3`` uint8 (or one ``H x W x 3``) -> ``B x 3 x S x S`` normalised float."""
    x = torch.as_tensor(np.asarray(images) if isinstance(images, np.ndarray) else images)
    if x.ndim == 3:
        x = x[None]
    x = x.permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(
            x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
        )
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


#: Similarity threshold of encoders without a calibrated one (published weights, clip-patches).
DEFAULT_MATCH_THRESHOLD = 0.5


class DenseEncoder:
    """Image -> a grid of patch tokens.

    Args:
        model: a transformers ``Dinov2Model``.
        image_size: the square input side in pixels (a multiple of the patch size).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        match_threshold: cosine similarity at which two parts' features count as alike
            (calibrated per checkpoint by ``mereo eval correspond --calibrate``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        image_size: int | None = None,
        device: str = "auto",
        match_threshold: float = DEFAULT_MATCH_THRESHOLD,
    ):
        self.device = resolve_device(device)
        self.match_threshold = match_threshold
        self.model: Any = model.to(self.device).eval()
        cfg: Any = model.config
        self.patch_size = int(cfg.patch_size if isinstance(cfg.patch_size, int) else cfg.patch_size[0])
        size = image_size or int(cfg.image_size if isinstance(cfg.image_size, int) else cfg.image_size[0])
        self.image_size = max(self.patch_size, size - size % self.patch_size)
        self.grid = (self.image_size // self.patch_size, self.image_size // self.patch_size)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def forward_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """``B x 3 x S x S`` normalised pixels -> ``B x N x D`` patch tokens (no CLS), with grad."""
        out = self.model(pixel_values=pixels.to(self.device))
        return out.last_hidden_state[:, 1:, :]

    @torch.no_grad()
    def encode_batch(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``B x H x W x 3`` uint8 -> ``B x N x D`` float32 tokens on the CPU (``N = grid[0] * grid[1]``)."""
        return self.forward_pixels(to_pixels(images, self.image_size)).float().cpu()

    def encode(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """One ``H x W x 3`` uint8 image -> (``N x D`` tokens, ``(grid_h, grid_w)``)."""
        return self.encode_batch(image[None])[0], self.grid


def load_small(device: str = "auto", directory: str | Path | None = None) -> DenseEncoder:
    """The trained embedded default, from ``mereo/checkpoints/dinov2-small.safetensors``."""
    from mereo.checkpoints import config_must_fit, load_checkpoint

    state, manifest = load_checkpoint(CHECKPOINT_NAME, directory)
    with config_must_fit(CHECKPOINT_NAME, directory):
        model = build_model(manifest.get("config", SMALL_CONFIG))
        missing, unexpected = model.load_state_dict(state, strict=False)
        calibrated = float(manifest.get("match_threshold", {}).get("value", DEFAULT_MATCH_THRESHOLD))
    if [k for k in missing if "mask_token" not in k] or unexpected:
        raise CheckpointError(
            f"{CHECKPOINT_NAME} does not fit its architecture (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}); retrain it with `mereo train correspond`."
        )
    return DenseEncoder(model, device=device, match_threshold=calibrated)


def shared_small(device: str = "auto") -> DenseEncoder:
    """The trained embedded DINOv2 patch encoder for run-time tools, loaded once per process and device.

    One :class:`~mereo.tools.loadonce.LoadOnce` copy serves the ``dinov2-small`` correspondence backend and
    calico-small's frozen encoders: never train it (training code calls :func:`load_small` for its
    own copy).

    Raises:
        CheckpointError: the checkpoint is missing or does not fit (from :func:`load_small`).
    """
    return _SHARED.get(device)


_SHARED: LoadOnce[DenseEncoder] = LoadOnce(CHECKPOINT_NAME, lambda device: load_small(device))


def load_pretrained(source: str, device: str = "auto", image_size: int | None = None) -> DenseEncoder:
    """Published DINOv2 weights: a local ``save_pretrained`` folder or a hub id (needs the hub cache).

    Raises:
        CheckpointError: the folder or hub id cannot be loaded as a ``Dinov2Model``.
    """
    from transformers import Dinov2Model

    try:
        model = Dinov2Model.from_pretrained(source)
    except (OSError, ValueError) as e:
        where = "folder" if Path(source).exists() else "hub id (is it in the local cache? HF_HUB_OFFLINE=1)"
        raise CheckpointError(f"could not load DINOv2 weights from {source!r} as a {where}: {e}") from e
    size = model.config.image_size
    cfg_size = size if isinstance(size, int) else size[0]
    # published DINOv2 configs say 518; 224 keeps CPU use sane and is what most users feed
    return DenseEncoder(model, image_size=image_size or min(int(cfg_size), 224), device=device)
