"""The shared image encoder of the embedded default: one small CNN read by every embedded tool.

``SynthPartsCNN`` maps an ``B x 3 x H x W`` image (``H``, ``W`` multiples of 16; 128 in training)
to dense features at stride 4 plus a pooled vector, and multi-task heads over them:

- ``part``: per-pixel part kind, ``len(part_labels) + 1`` logits (index 0 = background / no part);
- ``sem``: per-pixel object embedding in the MiniLM text space (``text_dim``, L2-normalised);
  its cosine with the text embedding of a category name scores that category, so the head is
  open-vocabulary (a learned background vector stands for "no object");
- ``inst``: per-pixel instance embedding (``inst_dim``) trained with a pull/push loss, so pixels
  of one object lie close and different objects of a scene lie apart;
- ``corr``: per-pixel correspondence embedding (``corr_dim``, L2-normalised): the same part kind
  is close across objects and images;
- ``pooled``: an image-level vector in the text space (which categories the scene shows).

Frames: every dense output is ``B x C x H/4 x W/4`` (pixel ``(y, x)`` of the map covers image
pixels ``4y .. 4y+3``); :func:`upsample` brings maps to image pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: The backend and checkpoint name of the committed encoder.
NAME = "synthparts-cnn"
#: ImageNet-free input normalisation: pixels in [0, 255] -> roughly zero mean, unit spread.
PIXEL_MEAN = 127.5
PIXEL_STD = 64.0


@dataclass
class EncoderConfig:
    """Sizes of :class:`SynthPartsCNN` (stored in the checkpoint manifest).

    Attributes:
        channels: widths of the stride-2, -4 and -8 stages; the 8x8 (stride-16) attention block
            and the decoder use ``channels[2]``.
        blocks: residual blocks per stage.
        dim: width of the stride-4 dense features.
        heads: attention heads in the stride-16 block.
        n_parts: part kinds (background excluded).
        text_dim: width of the text-aligned embeddings (MiniLM: 384).
        inst_dim: width of the instance embedding.
        corr_dim: width of the correspondence embedding.
        image_size: the training image side in pixels.
    """

    channels: tuple[int, int, int] = (48, 96, 160)
    blocks: tuple[int, int, int] = (1, 2, 2)
    dim: int = 96
    heads: int = 4
    n_parts: int = 64
    text_dim: int = 384
    inst_dim: int = 8
    corr_dim: int = 64
    image_size: int = 128
    part_labels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        d = dict(d)
        for k in ("channels", "blocks"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class ResBlock(nn.Module):
    """Two 3x3 conv + BatchNorm layers with an identity shortcut."""

    def __init__(self, c: int):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.b1(self.c1(x)), inplace=True)
        return F.relu(x + self.b2(self.c2(y)), inplace=True)


class AttentionBlock(nn.Module):
    """Pre-norm multi-head self-attention + MLP over the tokens of a small grid.

    A learned position embedding for a ``grid x grid`` map is interpolated to other grid sizes.
    """

    def __init__(self, c: int, heads: int, grid: int):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(1, c, grid, grid))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.n1 = nn.LayerNorm(c)
        self.attn = nn.MultiheadAttention(c, heads, batch_first=True)
        self.n2 = nn.LayerNorm(c)
        self.mlp = nn.Sequential(nn.Linear(c, 2 * c), nn.GELU(), nn.Linear(2 * c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        pos = self.pos if self.pos.shape[-2:] == (h, w) else F.interpolate(self.pos, (h, w), mode="bilinear")
        t = (x + pos).flatten(2).transpose(1, 2)  # B x HW x C
        q = self.n1(t)
        t = t + self.attn(q, q, q, need_weights=False)[0]
        t = t + self.mlp(self.n2(t))
        return t.transpose(1, 2).reshape(b, c, h, w)


@dataclass
class EncoderOutput:
    """What one forward pass gives (see the module docstring for shapes and frames).

    Attributes:
        features: ``B x dim x H/4 x W/4`` dense features (what a tool head reads).
        pooled: ``B x text_dim`` L2-normalised image vector.
        part: ``B x (n_parts + 1) x H/4 x W/4`` part-kind logits (0 = background).
        sem: ``B x text_dim x H/4 x W/4`` L2-normalised object embeddings.
        inst: ``B x inst_dim x H/4 x W/4`` instance embeddings.
        corr: ``B x corr_dim x H/4 x W/4`` L2-normalised correspondence embeddings.
    """

    features: torch.Tensor
    pooled: torch.Tensor
    part: torch.Tensor
    sem: torch.Tensor
    inst: torch.Tensor
    corr: torch.Tensor


class SynthPartsCNN(nn.Module):
    """The shared encoder: a residual CNN with one attention block and a small top-down decoder."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        c1, c2, c3 = cfg.channels
        b1, b2, b3 = cfg.blocks
        self.stem = _conv_bn(3, c1, 2)  # stride 2
        self.stage1 = nn.Sequential(*[ResBlock(c1) for _ in range(b1)])
        self.down2 = _conv_bn(c1, c2, 2)  # stride 4
        self.stage2 = nn.Sequential(*[ResBlock(c2) for _ in range(b2)])
        self.down3 = _conv_bn(c2, c3, 2)  # stride 8
        self.stage3 = nn.Sequential(*[ResBlock(c3) for _ in range(b3)])
        self.down4 = _conv_bn(c3, c3, 2)  # stride 16 (8 x 8 for a 128-pixel image)
        self.attn = AttentionBlock(c3, cfg.heads, cfg.image_size // 16)
        self.lat3 = nn.Conv2d(c3, c3, 1)
        self.fuse3 = _conv_bn(c3, c3)
        self.lat2 = nn.Conv2d(c2, cfg.dim, 1)
        self.top2 = nn.Conv2d(c3, cfg.dim, 1)
        self.fuse2 = _conv_bn(cfg.dim, cfg.dim)
        d = cfg.dim
        self.part_head = nn.Conv2d(d, cfg.n_parts + 1, 1)
        self.sem_head = nn.Sequential(
            nn.Conv2d(d, d, 1), nn.ReLU(inplace=True), nn.Conv2d(d, cfg.text_dim, 1)
        )
        self.inst_head = nn.Sequential(
            nn.Conv2d(d + 2, d, 1), nn.ReLU(inplace=True), nn.Conv2d(d, cfg.inst_dim, 1)
        )
        self.corr_head = nn.Conv2d(d, cfg.corr_dim, 1)
        self.pool_head = nn.Linear(c3, cfg.text_dim)
        #: the text-space vector of "no object" (the background of ``sem``)
        self.background = nn.Parameter(torch.randn(cfg.text_dim) * 0.05)
        #: logit scale of cosine similarities with text embeddings
        self.logit_scale = nn.Parameter(torch.tensor(2.7))

    @staticmethod
    def normalize_pixels(images: torch.Tensor) -> torch.Tensor:
        """``B x 3 x H x W`` float pixels in [0, 255] -> the network's input range."""
        return (images - PIXEL_MEAN) / PIXEL_STD

    def forward(self, images: torch.Tensor) -> EncoderOutput:
        """Encode ``B x 3 x H x W`` float images with pixels in [0, 255]."""
        x = self.normalize_pixels(images)
        x = self.stage1(self.stem(x))
        f2 = self.stage2(self.down2(x))
        f3 = self.stage3(self.down3(f2))
        f4 = self.attn(self.down4(f3))
        p3 = self.fuse3(self.lat3(f3) + F.interpolate(f4, size=f3.shape[-2:], mode="nearest"))
        feats = self.fuse2(
            self.lat2(f2)
            + F.interpolate(self.top2(p3), size=f2.shape[-2:], mode="bilinear", align_corners=False)
        )
        b, _, h, w = feats.shape
        ys = torch.linspace(-1, 1, h, device=feats.device).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=feats.device).view(1, 1, 1, w).expand(b, 1, h, w)
        inst = self.inst_head(torch.cat([feats, ys, xs], 1))
        return EncoderOutput(
            features=feats,
            pooled=F.normalize(self.pool_head(f4.mean((2, 3))), dim=-1),
            part=self.part_head(feats),
            sem=F.normalize(self.sem_head(feats), dim=1),
            inst=inst,
            corr=F.normalize(self.corr_head(feats), dim=1),
        )

    def text_logits(self, emb: torch.Tensor, text: torch.Tensor, background: bool = True) -> torch.Tensor:
        """Scaled cosine logits of embeddings against text vectors.

        Args:
            emb: ``B x D x h x w`` (dense) or ``N x D`` L2-normalised embeddings.
            text: ``K x D`` L2-normalised text embeddings (e.g. category names).
            background: prepend the learned background vector as class 0.

        Returns:
            ``B x K(+1) x h x w`` or ``N x K(+1)`` logits.
        """
        if background:
            text = torch.cat([F.normalize(self.background, dim=0)[None], text], 0)
        scale = self.logit_scale.exp().clamp(max=100.0)
        if emb.dim() == 4:
            return scale * torch.einsum("bdhw,kd->bkhw", emb, text)
        return scale * emb @ text.T


def upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``B x C x h x w`` maps to ``size`` (image pixels)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def build_model(cfg: EncoderConfig) -> SynthPartsCNN:
    """A fresh encoder in ``channels_last`` memory format (faster convolutions on CPU)."""
    return SynthPartsCNN(cfg).to(memory_format=torch.channels_last)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
