"""PLUM-small's image side: a small strided CNN with a top-down path (stride 8, 4 and 2 features)
and the auxiliary dense head (every pixel's part and object class) that trains it faster."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mereo.lightimport import import_submodule

# segment_anything's __init__ would import torchvision (and torch._dynamo): skip it
LayerNorm2d = import_submodule("segment_anything.modeling.common").LayerNorm2d


class _ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch, ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


#: What the image encoder returns: the embedding ``B x D x S/8 x S/8`` and the high-resolution
#: features added while the decoder upscales, ``B x D/4 x S/4 x S/4`` and ``B x D/8 x S/2 x S/2``.
ImageFeatures = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class SmallCNNEncoder(nn.Module):
    """Strided CNN image encoder: ``B x 3 x S x S`` normalised RGB -> :data:`ImageFeatures`.

    The stride-2 and stride-4 stages also feed the mask decoder's upscaling (as in SAM 2's
    high-resolution features), since SynthParts parts are only a few pixels wide.
    """

    def __init__(self, channels: tuple[int, int], out_dim: int, context_stages: int = 2):
        super().__init__()
        c1, c2 = channels
        self.stage1 = _down(3, c1)
        self.stage2 = nn.Sequential(_down(c1, c2), _ResBlock(c2))
        self.stage3 = nn.Sequential(_down(c2, out_dim), _ResBlock(out_dim), _ResBlock(out_dim))
        # coarser stages (stride 16, 32) see a whole object; their features come back top-down
        self.context = nn.ModuleList(
            nn.Sequential(_down(out_dim, out_dim), _ResBlock(out_dim)) for _ in range(context_stages)
        )
        self.lateral = nn.ModuleList(nn.Conv2d(out_dim, out_dim, 1) for _ in range(context_stages))
        self.neck = nn.Sequential(nn.Conv2d(out_dim, out_dim, 1), LayerNorm2d(out_dim))
        self.conv_s0 = nn.Conv2d(c1, out_dim // 8, 1)
        self.conv_s1 = nn.Conv2d(c2, out_dim // 4, 1)
        self.top1 = nn.Conv2d(out_dim, out_dim // 4, 1)
        self.top0 = nn.Conv2d(out_dim // 4, out_dim // 8, 1)

    def forward(self, x: torch.Tensor) -> ImageFeatures:
        s0 = self.stage1(x)
        s1 = self.stage2(s0)
        x = self.stage3(s1)
        pyramid = [x]
        for stage in self.context:
            pyramid.append(stage(pyramid[-1]))
        top = pyramid[-1]
        for level in range(len(pyramid) - 2, -1, -1):
            top = pyramid[level] + self.lateral[level](F.interpolate(top, scale_factor=2.0, mode="nearest"))
        emb = self.neck(top)
        f1 = self.conv_s1(s1) + F.interpolate(self.top1(emb), scale_factor=2.0, mode="nearest")
        f0 = self.conv_s0(s0) + F.interpolate(self.top0(f1), scale_factor=2.0, mode="nearest")
        return emb, f1, f0


class DenseHead(nn.Module):
    """Auxiliary head: :data:`ImageFeatures` -> part and object class logits at stride 4."""

    def __init__(self, embed_dim: int, n_parts: int, n_objects: int, hidden: int = 48):
        super().__init__()
        self.n_parts = n_parts
        self.body = nn.Sequential(
            nn.Conv2d(embed_dim + embed_dim // 4, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, n_parts + 1 + n_objects + 1, 1),
        )

    def forward(self, feats: ImageFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        emb, f1, _ = feats
        x = torch.cat([F.interpolate(emb, size=f1.shape[-2:], mode="bilinear", align_corners=False), f1], 1)
        out = self.body(x)
        return out[:, : self.n_parts + 1], out[:, self.n_parts + 1 :]
