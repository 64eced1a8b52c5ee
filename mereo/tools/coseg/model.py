"""Calico-small: a small part-focused co-segmentation network after Calico (Nguyen et al.).

The network sees a pair of images through two frozen encoders and answers one of three tasks
(common objects, common parts, unique parts) with labelled masks in each image.

Per image ``i`` (``S_c`` CLIP tokens of width ``D_c``, ``S_s`` DINOv2 tokens of width ``D_s``):

1. Correspondence extraction (CEM): the CLIP tokens (resized to the embedding grid) are the
   queries, the DINOv2 tokens the keys and values of a cross-attention,
   ``X'_i = A(X_clip, X_dino) + X_dino``; the DINOv2 skip connection keeps each location's
   part-discriminative feature where the masks are decoded (it makes the small model learn fast).
2. Adaptation (CAM): the task embedding is projected and added to 32 learnable Q-Former queries,
   ``q' = q + f(task)``; the Q-Former compresses each image, ``Z_i = Q(q', X'_i)``, ``32 x D``.
3. Pair reasoning (the small stand-in for Calico's LLM): a transformer over the task token and
   both images' ``Z``; the joint tokens are re-injected into each image's ``X'``.
4. Which labels: every vocabulary name's MiniLM embedding, projected to ``D`` and tagged with
   the image and the task, reads the joint tokens; two logits say whether the name is visible in
   that image and whether its object has it, and the task's set definition combines them across
   the pair (common parts: visible here and had there; unique parts: visible here, not had there).
   The vocabulary is any list of names (the knowledge base's by default),
   so labels stay open-vocabulary.
5. Where: each answer label becomes a per-part query (its projected MiniLM embedding, refined
   on the joint tokens) that prompts a segment-anything ``MaskDecoder`` (two-way transformer +
   hypernetwork masks) over ``X'``; the decoder's IoU head scores the mask.
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
        num_parts: the most masks returned per image at inference.
        qformer_layers, pair_layers, part_layers, decoder_depth: depths of the stacks (``part_layers``
            for both the label and the part queries).
        label_dim: width of the label space (MiniLM: 384).
        pixel_stem: add a small convolution of the RGB pixels to the upscaled mask features.
        refine: refine each mask with a small convolution over the mask and the pixel features.
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
    refine: bool = False

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
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)
        )

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

    def decode(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        queries: torch.Tensor,
        pixel_features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
        query_out = hs[:, fixed.shape[0] :, :]
        hyper = self.output_hypernetworks_mlps[0](query_out)
        bu, cu, hu, wu = up.shape
        masks = (hyper @ up.reshape(bu, cu, hu * wu)).reshape(bu, -1, hu, wu)
        quality = self.iou_prediction_head(query_out)[..., 0]
        return masks, quality, query_out


@dataclass
class PairEncoding:
    """What :meth:`CalicoSmall.encode` gives for ``B`` pairs (``2B`` images, pair-major).

    Attributes:
        embedding: ``2B x D x g x g`` image embeddings for the mask decoder.
        joint: ``2B x (1 + 2 * num_queries) x D`` joint pair tokens (each pair's, repeated per image).
        context: ``2B x D`` image-and-task tag added to every label query of that image.
        pixel_features: ``2B x D/8 x M x M`` or None.
    """

    embedding: torch.Tensor
    joint: torch.Tensor
    context: torch.Tensor
    pixel_features: torch.Tensor | None

    def select(self, index: torch.Tensor) -> PairEncoding:
        """The encoding of images ``index`` (into the ``2B`` images) only."""
        pix = self.pixel_features[index] if self.pixel_features is not None else None
        return PairEncoding(self.embedding[index], self.joint[index], self.context[index], pix)


def _to_grid(tokens: torch.Tensor, grid: int) -> torch.Tensor:
    """Resize ``N x S x D`` row-major square-grid tokens to ``N x grid*grid x D`` (bilinear)."""
    n, s, d = tokens.shape
    side = int(round(s**0.5))
    if side == grid:
        return tokens
    x = tokens.transpose(1, 2).reshape(n, d, side, side)
    x = F.interpolate(x, size=(grid, grid), mode="bilinear", align_corners=False)
    return x.flatten(2).transpose(1, 2)


class CalicoSmall(nn.Module):
    """The trainable part of Calico-small (the encoders stay frozen, outside this module)."""

    def __init__(self, config: CalicoConfig):
        super().__init__()
        self.config = c = config
        d = c.dim
        self.clip_proj = nn.Sequential(nn.LayerNorm(c.clip_dim), nn.Linear(c.clip_dim, d))
        self.dino_proj = nn.Sequential(nn.LayerNorm(c.dino_dim), nn.Linear(c.dino_dim, d))
        self.clip_pos = nn.Parameter(torch.zeros(1, c.grid * c.grid, d))
        self.dino_pos = nn.Parameter(torch.zeros(1, c.grid * c.grid, d))
        self.cem = CrossBlock(d, c.heads, self_attn=False)
        self.task_embed = nn.Embedding(len(COSEG_TASKS), d)
        self.image_embed = nn.Embedding(2, d)
        self.queries = nn.Parameter(torch.randn(c.num_queries, d) * 0.02)
        self.adapt = nn.Linear(d, d)
        self.qformer = nn.ModuleList([CrossBlock(d, c.heads) for _ in range(c.qformer_layers)])
        layer = nn.TransformerEncoderLayer(d, c.heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.pair = nn.TransformerEncoder(layer, c.pair_layers, enable_nested_tensor=False)
        self.reinject = CrossBlock(d, c.heads, self_attn=False)
        self.label_proj = nn.Sequential(nn.LayerNorm(c.label_dim), nn.Linear(c.label_dim, d))
        self.label_blocks = nn.ModuleList(
            [CrossBlock(d, c.heads, self_attn=False) for _ in range(c.part_layers)]
        )
        self.label_logit = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2))
        self.part_blocks = nn.ModuleList(
            [CrossBlock(d, c.heads, self_attn=False) for _ in range(c.part_layers)]
        )
        self.refiner = (
            nn.Sequential(nn.Conv2d(1 + d // 8, 16, 3, padding=1), nn.GELU(), nn.Conv2d(16, 1, 3, padding=1))
            if c.refine and c.pixel_stem
            else None
        )
        self.coarse_q = nn.Linear(d, d)
        self.coarse_x = nn.Conv2d(d + (d // 8 if c.pixel_stem else 0), d, 1)
        self.pe = PositionEmbeddingRandom(d // 2)
        self.no_mask_embed = nn.Parameter(torch.zeros(1, d, 1, 1))
        self.decoder = PartMaskDecoder(
            transformer_dim=d,
            transformer=TwoWayTransformer(
                depth=c.decoder_depth, embedding_dim=d, num_heads=c.heads, mlp_dim=2 * d
            ),
            num_multimask_outputs=0,
            iou_head_depth=2,
            iou_head_hidden_dim=d,
        )
        self.pixel = (
            nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.GELU(), nn.Conv2d(16, d // 8, 3, padding=1))
            if c.pixel_stem
            else None
        )

    def encode(
        self, clip: torch.Tensor, dino: torch.Tensor, pixels: torch.Tensor, task: torch.Tensor
    ) -> PairEncoding:
        """Encode a batch of image pairs (CEM, task-adapted Q-Former, pair reasoning).

        Args:
            clip: ``B x 2 x S_c x D_c`` CLIP patch tokens (no class token), row-major grid.
            dino: ``B x 2 x S_s x D_s`` DINOv2 patch tokens.
            pixels: ``B x 2 x 3 x M x M`` RGB in ``[0, 1]`` at mask resolution.
            task: ``B`` task indices into ``COSEG_TASKS``.
        """
        c = self.config
        b = clip.shape[0]
        g = c.grid
        xc = _to_grid(self.clip_proj(clip.flatten(0, 1).float()), g) + self.clip_pos  # 2B x g*g x D
        xs = _to_grid(self.dino_proj(dino.flatten(0, 1).float()), g) + self.dino_pos  # 2B x g*g x D
        x = self.cem(xc, xs) + xs  # CEM + DINOv2 skip
        t = self.task_embed(task)  # B x D
        t2 = t.repeat_interleave(2, dim=0)  # 2B x D
        img_ids = torch.arange(2, device=clip.device).repeat(b)  # 0,1,0,1,...
        q = self.queries.unsqueeze(0) + self.adapt(t2).unsqueeze(1)  # CAM: q' = q + f(task)
        for blk in self.qformer:
            q = blk(q, x)  # 2B x 32 x D
        q = q + self.image_embed(img_ids).unsqueeze(1)
        joint = self.pair(torch.cat([t.unsqueeze(1), q.reshape(b, 2 * c.num_queries, -1)], dim=1))
        joint2 = joint.repeat_interleave(2, dim=0)  # 2B x 65 x D
        x = self.reinject(x, joint2)
        emb = x.transpose(1, 2).reshape(2 * b, -1, g, g) + self.no_mask_embed
        pix = self.pixel(pixels.flatten(0, 1).float()) if self.pixel is not None else None
        return PairEncoding(emb, joint2, self.image_embed(img_ids) + t2, pix)

    def _label_queries(self, enc: PairEncoding, labels: torch.Tensor, blocks: nn.ModuleList) -> torch.Tensor:
        q = self.label_proj(labels.float())
        q = (q if q.ndim == 3 else q.unsqueeze(0)) + enc.context.unsqueeze(1)
        for blk in blocks:
            q = blk(q, enc.joint)
        return q

    def classify(self, enc: PairEncoding, vocab: torch.Tensor) -> torch.Tensor:
        """Per image and vocabulary name: is it visible, and does the image's object have it.

        Args:
            enc: the pair encoding.
            vocab: ``V x 384`` MiniLM embeddings of the candidate names.

        Returns:
            ``2B x V x 2`` logits: ``[..., 0]`` the name is visible in the image (an object in it,
            or a visible part of its main object); ``[..., 1]`` the main object has the part
            (visible or not; equals visibility for object names).
        """
        return self.label_logit(self._label_queries(enc, vocab, self.label_blocks))

    @staticmethod
    def answer_probs(logits: torch.Tensor, task: str) -> torch.Tensor:
        """Combine per-image logits into answer probabilities with Calico's set definitions.

        Args:
            logits: ``2B x V x 2`` from :meth:`classify` (pair-major: images 0 and 1 of a pair).
            task: one of ``COSEG_TASKS``.

        Returns:
            ``B x 2 x V``: common objects ``vis_i * vis_j``; common parts ``vis_i * has_j``;
            unique parts ``vis_i * (1 - has_j)``, where ``j`` is the other image.
        """
        p = logits.sigmoid().reshape(-1, 2, logits.shape[1], 2)
        vis, has = p[..., 0], p[..., 1]
        other_vis, other_has = vis.flip(1), has.flip(1)
        if task == "common_objects":
            return vis * other_vis
        if task == "common_parts":
            return vis * other_has
        return vis * (1 - other_has)

    def segment(self, enc: PairEncoding, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks of named parts (or objects).

        Args:
            enc: the pair encoding.
            labels: ``2B x K x 384`` MiniLM embeddings of the names to segment in each image.

        Returns:
            ``(mask_logits 2B x K x M x M, quality 2B x K)``.
        """
        g = self.config.grid
        q = self._label_queries(enc, labels, self.part_blocks)
        masks, quality, _ = self.decoder.decode(
            enc.embedding, self.pe((g, g)).unsqueeze(0), q, enc.pixel_features
        )
        # a direct query-to-pixel similarity map (embedding upsampled + pixel features): a short
        # path that learns fast, added to the decoder's masks
        fine = F.interpolate(enc.embedding, size=masks.shape[-2:], mode="bilinear", align_corners=False)
        if enc.pixel_features is not None:
            fine = torch.cat([fine, enc.pixel_features], dim=1)
        direct = torch.einsum("bkd,bdhw->bkhw", self.coarse_q(q), self.coarse_x(fine))
        masks = masks + direct / q.shape[-1] ** 0.5
        if self.refiner is not None and enc.pixel_features is not None and masks.shape[1] > 0:
            n, k, h, w = masks.shape
            pix = enc.pixel_features.unsqueeze(1).expand(-1, k, -1, -1, -1)
            x = torch.cat([masks.unsqueeze(2), pix], dim=2).reshape(n * k, -1, h, w)
            masks = masks + self.refiner(x).reshape(n, k, h, w)
        return masks, quality
