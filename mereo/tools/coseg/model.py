"""Calico-small: a small part-focused co-segmentation network after Calico (Nguyen et al.).

The network sees a pair of images through two frozen encoders and answers one of three tasks
(common objects, common parts, unique parts) with up to ``num_parts`` labelled masks per image.

Per image ``i`` (``S_c`` CLIP tokens of width ``D_c``, ``S_s`` DINOv2 tokens of width ``D_s``):

1. Correspondence extraction (CEM): the CLIP tokens are the queries, the DINOv2 tokens the keys
   and values of a cross-attention, ``X'_i = A(X_clip, X_dino)``, ``S_c x D``.
2. Adaptation (CAM): the task embedding is projected and added to 32 learnable Q-Former queries,
   ``q' = q + f(task)``; the Q-Former compresses each image, ``Z_i = Q(q', X'_i)``, ``32 x D``.
3. Pair reasoning (the small stand-in for Calico's LLM): a transformer over the task token and
   both images' ``Z``; the joint tokens are re-injected into each image's ``X'``.
4. Part queries: ``num_parts`` learnable queries per image read the joint tokens, then prompt a
   segment-anything ``MaskDecoder`` (two-way transformer + hypernetwork masks) over ``X'``.
5. Heads on the decoded query tokens: an objectness logit, and a label embedding in the
   384-d MiniLM space; labels come from cosine similarity to any vocabulary's MiniLM
   embeddings, so the label set stays open.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from segment_anything.modeling.mask_decoder import MaskDecoder
from segment_anything.modeling.prompt_encoder import PositionEmbeddingRandom
from segment_anything.modeling.transformer import TwoWayTransformer
from torch import nn

from mereo.tools.base import COSEG_TASKS

TASK_INDEX = {t: i for i, t in enumerate(COSEG_TASKS)}


@dataclass(frozen=True)
class CalicoConfig:
    """Architecture of :class:`CalicoSmall` (stored in the checkpoint manifest).

    Attributes:
        clip_dim, dino_dim: widths of the frozen encoders' patch tokens.
        clip_grid: side of the CLIP token grid (``S_c = clip_grid ** 2``).
        grid: side of the embedding grid the masks are decoded on; the CLIP tokens are resized
            (bilinear) to it before they query the DINOv2 tokens, so a finer DINOv2 grid is used.
        dim: width ``D`` of every trainable module.
        heads: attention heads.
        num_queries: Q-Former queries per image (Calico: 32).
        num_parts: part queries (output masks) per image.
        qformer_layers, pair_layers, part_layers, decoder_depth: depths of the four stacks.
        label_dim: width of the label space (MiniLM: 384).
        pixel_stem: add a small convolution of the RGB pixels to the upscaled mask features.
    """

    clip_dim: int = 192
    dino_dim: int = 192
    clip_grid: int = 8
    grid: int = 16
    dim: int = 64
    heads: int = 4
    num_queries: int = 32
    num_parts: int = 8
    qformer_layers: int = 1
    pair_layers: int = 2
    part_layers: int = 2
    decoder_depth: int = 2
    label_dim: int = 384
    pixel_stem: bool = True

    @property
    def mask_side(self) -> int:
        """Side of the predicted mask logits: the token grid upscaled 4x by the SAM decoder."""
        return self.grid * 4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CrossBlock(nn.Module):
    """Pre-norm block: optional self-attention, cross-attention to a context, MLP.

    Shapes: ``x`` is ``B x N x D``, ``context`` is ``B x M x D``; returns ``B x N x D``.
    """

    def __init__(self, dim: int, heads: int, self_attn: bool = True):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True) if self_attn else None
        self.norm_s = nn.LayerNorm(dim)
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        if self.self_attn is not None:
            h = self.norm_s(x)
            x = x + self.self_attn(h, h, h, need_weights=False)[0]
        kv = self.norm_kv(context)
        x = x + self.cross(self.norm_q(x), kv, kv, need_weights=False)[0]
        return x + self.mlp(x)


class PartMaskDecoder(MaskDecoder):
    """SAM's ``MaskDecoder``, prompted by several part queries of one image in one pass.

    SAM decodes one prompt per batch item and repeats the image for each; here all ``K`` part
    queries of an image are the sparse prompt tokens of a single pass, and each query's output
    token becomes its own mask through the (shared) hypernetwork MLP, DETR style.
    """

    def decode(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor, queries: torch.Tensor,
               pixel_features: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode masks for part queries.

        Args:
            image_embeddings: ``B x D x h x w``.
            image_pe: ``1 x D x h x w`` positional encoding.
            queries: ``B x K x D`` part queries (the sparse prompt tokens).
            pixel_features: optional ``B x D/8 x 4h x 4w`` added to the upscaled embedding.

        Returns:
            ``(mask_logits B x K x 4h x 4w, quality B x K, query_tokens B x K x D)``.
        """
        b = queries.shape[0]
        fixed = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([fixed.unsqueeze(0).expand(b, -1, -1), queries], dim=1)
        pos = image_pe.expand(b, -1, -1, -1)
        hs, src = self.transformer(image_embeddings, pos, tokens)
        _, c, h, w = image_embeddings.shape
        src = src.transpose(1, 2).reshape(b, c, h, w)
        up = self.output_upscaling(src)
        if pixel_features is not None:
            up = up + pixel_features
        query_out = hs[:, fixed.shape[0]:, :]
        hyper = self.output_hypernetworks_mlps[0](query_out)
        bu, cu, hu, wu = up.shape
        masks = (hyper @ up.reshape(bu, cu, hu * wu)).reshape(bu, -1, hu, wu)
        quality = self.iou_prediction_head(query_out)[..., 0]
        return masks, quality, query_out


@dataclass
class CosegOutput:
    """Raw outputs for a batch of ``B`` pairs, ``K`` part queries per image.

    Attributes:
        mask_logits: ``B x 2 x K x M x M`` (``M = config.mask_side``).
        objectness: ``B x 2 x K`` logits (is this query part of the answer).
        label_embeddings: ``B x 2 x K x 384``, L2-normalised.
        quality: ``B x 2 x K`` predicted mask IoU (unbounded; sigmoid gives ``[0, 1]``).
    """

    mask_logits: torch.Tensor
    objectness: torch.Tensor
    label_embeddings: torch.Tensor
    quality: torch.Tensor


class CalicoSmall(nn.Module):
    """The trainable part of Calico-small (the encoders stay frozen, outside this module)."""

    def __init__(self, config: CalicoConfig):
        super().__init__()
        self.config = c = config
        d = c.dim
        self.clip_proj = nn.Sequential(nn.LayerNorm(c.clip_dim), nn.Linear(c.clip_dim, d))
        self.dino_proj = nn.Sequential(nn.LayerNorm(c.dino_dim), nn.Linear(c.dino_dim, d))
        self.clip_pos = nn.Parameter(torch.zeros(1, c.grid * c.grid, d))
        self.cem = CrossBlock(d, c.heads, self_attn=False)
        self.task_embed = nn.Embedding(len(COSEG_TASKS), d)
        self.image_embed = nn.Embedding(2, d)
        self.queries = nn.Parameter(torch.randn(c.num_queries, d) * 0.02)
        self.adapt = nn.Linear(d, d)
        self.qformer = nn.ModuleList([CrossBlock(d, c.heads) for _ in range(c.qformer_layers)])
        layer = nn.TransformerEncoderLayer(d, c.heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.pair = nn.TransformerEncoder(layer, c.pair_layers, enable_nested_tensor=False)
        self.reinject = CrossBlock(d, c.heads, self_attn=False)
        self.part_queries = nn.Parameter(torch.randn(c.num_parts, d) * 0.02)
        self.part_blocks = nn.ModuleList([CrossBlock(d, c.heads) for _ in range(c.part_layers)])
        self.pe = PositionEmbeddingRandom(d // 2)
        self.no_mask_embed = nn.Parameter(torch.zeros(1, d, 1, 1))
        self.decoder = PartMaskDecoder(
            transformer_dim=d, transformer=TwoWayTransformer(depth=c.decoder_depth, embedding_dim=d,
                                                             num_heads=c.heads, mlp_dim=2 * d),
            num_multimask_outputs=0, iou_head_depth=2, iou_head_hidden_dim=d)
        self.pixel = (nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.GELU(), nn.Conv2d(16, d // 8, 3, padding=1))
                      if c.pixel_stem else None)
        self.objectness = nn.Linear(d, 1)
        self.label_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, c.label_dim))

    def forward(self, clip: torch.Tensor, dino: torch.Tensor, pixels: torch.Tensor,
                task: torch.Tensor) -> CosegOutput:
        """Run a batch of image pairs.

        Args:
            clip: ``B x 2 x S_c x D_c`` CLIP patch tokens (no class token), row-major grid.
            dino: ``B x 2 x S_s x D_s`` DINOv2 patch tokens.
            pixels: ``B x 2 x 3 x M x M`` RGB in ``[0, 1]`` at mask resolution.
            task: ``B`` task indices into ``COSEG_TASKS``.
        """
        c = self.config
        b = clip.shape[0]
        g = c.grid
        xc = self.clip_proj(clip.flatten(0, 1).float())                          # 2B x S_c x D
        if c.clip_grid != g:
            xc = xc.transpose(1, 2).reshape(2 * b, -1, c.clip_grid, c.clip_grid)
            xc = F.interpolate(xc, size=(g, g), mode="bilinear", align_corners=False)
            xc = xc.flatten(2).transpose(1, 2)                                   # 2B x g*g x D
        xc = xc + self.clip_pos
        xs = self.dino_proj(dino.flatten(0, 1).float())                          # 2B x S_s x D
        x = self.cem(xc, xs)                                                     # CEM
        t = self.task_embed(task)                                                # B x D
        t2 = t.repeat_interleave(2, dim=0)                                       # 2B x D
        img_ids = torch.arange(2, device=clip.device).repeat(b)                  # 0,1,0,1,...
        q = self.queries.unsqueeze(0) + self.adapt(t2).unsqueeze(1)              # CAM: q' = q + f(task)
        for blk in self.qformer:
            q = blk(q, x)                                                        # 2B x 32 x D
        q = q + self.image_embed(img_ids).unsqueeze(1)
        joint = torch.cat([t.unsqueeze(1), q.reshape(b, 2 * c.num_queries, -1)], dim=1)
        joint = self.pair(joint)                                                 # B x (1+64) x D
        joint2 = joint.repeat_interleave(2, dim=0)                               # 2B x 65 x D
        x = self.reinject(x, joint2)
        p = self.part_queries.unsqueeze(0) + (self.image_embed(img_ids) + t2).unsqueeze(1)
        for blk in self.part_blocks:
            p = blk(p, joint2)                                                   # 2B x K x D
        emb = x.transpose(1, 2).reshape(2 * b, -1, g, g) + self.no_mask_embed
        pix = None
        if self.pixel is not None:
            pix = self.pixel(pixels.flatten(0, 1).float())
        masks, quality, tokens = self.decoder.decode(emb, self.pe((g, g)).unsqueeze(0), p, pix)
        obj = self.objectness(tokens)[..., 0]
        lab = F.normalize(self.label_head(tokens), dim=-1)
        k = c.num_parts
        return CosegOutput(
            mask_logits=masks.reshape(b, 2, k, c.mask_side, c.mask_side),
            objectness=obj.reshape(b, 2, k),
            label_embeddings=lab.reshape(b, 2, k, -1),
            quality=quality.reshape(b, 2, k),
        )
