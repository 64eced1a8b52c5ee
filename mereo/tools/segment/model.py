"""PLUM-small: span tagger + SAM-style promptable mask decoder with mask feedback.

The model reads frozen MiniLM token embeddings of a description and an RGB image:

- span extractor: token embeddings -> MLP -> one bidirectional TransformerEncoder layer ->
  B/I/O logits;
- span query: the mean over a span's tokens of a separate linear projection of the token
  embeddings, used as the sparse prompt of segment-anything's ``PromptEncoder``/``MaskDecoder``;
- image encoder: a small strided CNN, ``B x 3 x S x S -> B x D x S/8 x S/8``, with a top-down
  path into its stride-4 and stride-2 features (which the mask decoder adds while upscaling) and
  an auxiliary dense head (every pixel's part and object class) that trains it much faster than
  the span masks alone;
- context token: the mean of a third projection over the whole description, a second sparse
  prompt token, so the decoder knows which object the parts belong to;
- mask feedback: earlier spans' low-resolution mask logits are encoded by the prompt encoder's
  mask-downscaling stages with FiLM conditioned on their queries, pooled per patch by attention
  (queried by the current span) and used as the dense prompt embedding of the next span.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from mereo.lightimport import import_submodule
from mereo.tools.segment.image_encoder import DenseHead, ImageFeatures, SmallCNNEncoder

# segment_anything's __init__ would import torchvision (and torch._dynamo): skip it
_sam: Any = import_submodule("segment_anything.modeling")
PromptEncoder, TwoWayTransformer = _sam.PromptEncoder, _sam.TwoWayTransformer

PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)


@dataclass
class PlumConfig:
    """Architecture of PLUM-small (stored in the checkpoint manifest).

    Attributes:
        image_size: square input side in pixels; the image embedding is ``image_size / 8``.
        embed_dim: channels of the image embedding and the decoder's token dimension.
        text_dim: MiniLM token embedding size.
        span_hidden: width of the span extractor.
        bidirectional: whether the span extractor has its bidirectional Transformer layer.
        feedback: whether earlier spans' masks feed the next span's dense prompt.
        mask_in_chans: hidden channels of the mask-downscaling stages.
        decoder_depth, decoder_heads, decoder_mlp: the TwoWayTransformer's size.
        encoder_channels: channels of the CNN's first two stages (the third has ``embed_dim``).
        aux_parts, aux_objects: classes (without background) of the auxiliary dense head; 0 = none.
        context_token: whether the description's mean embedding is a second sparse prompt token.
        context_stages: coarser CNN stages (stride 16, 32, ...) fed back top-down into the
            stride-8 embedding, so each patch sees its whole object.
    """

    image_size: int = 128
    embed_dim: int = 64
    text_dim: int = 384
    span_hidden: int = 128
    bidirectional: bool = True
    feedback: bool = True
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_heads: int = 4
    decoder_mlp: int = 256
    encoder_channels: tuple[int, int] = (24, 48)
    aux_parts: int = 64
    aux_objects: int = 32
    context_token: bool = True
    context_stages: int = 2

    @property
    def grid(self) -> int:
        """Side of the image embedding (tokens per row)."""
        return self.image_size // 8

    @property
    def mask_size(self) -> int:
        """Side of the low-resolution mask logits (4x the embedding)."""
        return self.grid * 4

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["encoder_channels"] = list(self.encoder_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlumConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "encoder_channels" in kw:
            kw["encoder_channels"] = tuple(kw["encoder_channels"])
        return cls(**kw)


class BatchedMaskDecoder(_sam.MaskDecoder):
    """segment-anything's MaskDecoder, taking one image embedding per prompt.

    SAM's decoder repeats a single image embedding for every prompt; in training every prompt
    comes from a different image, so here ``image_embeddings`` already has one row per prompt.
    """

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        high_res: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks ``n x M x 4g x 4g`` and IoU (here: presence) logits ``n x M``.

        ``high_res``: optional ``(n x D/4 x 2g x 2g, n x D/8 x 4g x 4g)`` features added after the
        first and second upscaling convolutions.
        """
        n = sparse_prompt_embeddings.shape[0]
        if image_embeddings.shape[0] != n:  # the SAM case: one image, many prompts
            image_embeddings = image_embeddings.expand(n, -1, -1, -1)
            if high_res is not None:
                high_res = (high_res[0].expand(n, -1, -1, -1), high_res[1].expand(n, -1, -1, -1))
        out_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([out_tokens.unsqueeze(0).expand(n, -1, -1), sparse_prompt_embeddings], dim=1)
        src = image_embeddings + dense_prompt_embeddings
        pos = image_pe.expand(n, -1, -1, -1)
        b, c, h, w = src.shape
        hs, src = self.transformer(src, pos, tokens)
        iou_out = hs[:, 0, :]
        mask_out = hs[:, 1 : 1 + self.num_mask_tokens, :]
        src = src.transpose(1, 2).reshape(b, c, h, w)
        if high_res is None:
            upscaled = self.output_upscaling(src)
        else:
            dc1, ln1, act1, dc2, act2 = self.output_upscaling
            upscaled = act1(ln1(dc1(src) + high_res[0]))
            upscaled = act2(dc2(upscaled) + high_res[1])
        hyper = torch.stack(
            [mlp(mask_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        _, c2, h2, w2 = upscaled.shape
        masks = (hyper @ upscaled.reshape(b, c2, h2 * w2)).reshape(b, -1, h2, w2)
        return masks, self.iou_prediction_head(iou_out)


class SpanExtractor(nn.Module):
    """Token embeddings ``B x T x text_dim`` -> B/I/O logits ``B x T x 3``."""

    def __init__(self, text_dim: int, hidden: int, bidirectional: bool):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(text_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.layer = None
        if bidirectional:
            self.layer = nn.TransformerEncoderLayer(
                hidden, nhead=4, dim_feedforward=2 * hidden, dropout=0.1, batch_first=True, norm_first=True
            )
        self.head = nn.Linear(hidden, 3)

    def forward(self, tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.mlp(tokens)
        if self.layer is not None:
            x = self.layer(x, src_key_padding_mask=~attention_mask)
        return self.head(x)


class MaskFeedback(nn.Module):
    """Encodes earlier masks (FiLM on their queries) and pools them per patch by attention.

    The convolutions are the prompt encoder's own ``mask_downscaling`` stages; FiLM is applied
    before its last 1x1 projection.
    """

    def __init__(self, embed_dim: int, mask_in_chans: int):
        super().__init__()
        self.film = nn.Linear(embed_dim, 2 * mask_in_chans)
        self.key = nn.Conv2d(embed_dim, embed_dim, 1)
        self.query = nn.Linear(embed_dim, embed_dim)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def encode(self, stages: nn.Sequential, mask_logits: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """``B x 1 x M x M`` logits + ``B x D`` query -> ``B x D x M/4 x M/4`` features.

        ``stages`` is the prompt encoder's ``mask_downscaling`` (passed in, not owned, so the
        weights are stored once).
        """
        x = stages[:-1](mask_logits)
        gamma, beta = self.film(query).chunk(2, dim=-1)
        x = x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        return stages[-1](x)

    def pool(self, feats: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Attention over history ``B x K x D x h x w`` queried by ``B x D`` -> ``B x D x h x w``."""
        b, k, d, h, w = feats.shape
        keys = self.key(feats.reshape(b * k, d, h, w)).reshape(b, k, d, h, w)
        q = self.query(query)[:, None, :, None, None]
        weights = torch.softmax((keys * q).sum(2) / d**0.5, dim=1)  # B x K x h x w
        return (weights.unsqueeze(2) * feats).sum(1)


class PlumSmall(nn.Module):
    """The whole model; see the module docstring."""

    def __init__(self, config: PlumConfig | None = None):
        super().__init__()
        self.config = cfg = config or PlumConfig()
        d = cfg.embed_dim
        self.image_encoder = SmallCNNEncoder(cfg.encoder_channels, d, cfg.context_stages)
        self.span_extractor = SpanExtractor(cfg.text_dim, cfg.span_hidden, cfg.bidirectional)
        self.query_proj = nn.Sequential(nn.LayerNorm(cfg.text_dim), nn.Linear(cfg.text_dim, d))
        self.context_proj = (
            nn.Sequential(nn.LayerNorm(cfg.text_dim), nn.Linear(cfg.text_dim, d))
            if cfg.context_token
            else None
        )
        self.dense_head = DenseHead(d, cfg.aux_parts, cfg.aux_objects) if cfg.aux_parts > 0 else None
        self.prompt_encoder = PromptEncoder(
            embed_dim=d,
            image_embedding_size=(cfg.grid, cfg.grid),
            input_image_size=(cfg.image_size, cfg.image_size),
            mask_in_chans=cfg.mask_in_chans,
        )
        self.mask_decoder = BatchedMaskDecoder(
            transformer_dim=d,
            num_multimask_outputs=0,
            iou_head_depth=2,
            iou_head_hidden_dim=d,
            transformer=TwoWayTransformer(
                depth=cfg.decoder_depth, embedding_dim=d, num_heads=cfg.decoder_heads, mlp_dim=cfg.decoder_mlp
            ),
        )
        self.feedback = MaskFeedback(d, cfg.mask_in_chans) if cfg.feedback else None
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(1, 3, 1, 1), persistent=False)

    # -- image ----------------------------------------------------------------------------------
    def encode_image(self, images: torch.Tensor) -> ImageFeatures:
        """``B x 3 x S x S`` uint8 or float in [0, 255] -> :data:`ImageFeatures`."""
        mean, std = self.pixel_mean, self.pixel_std
        assert isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor)
        x = (images.float() / 255.0 - mean) / std
        return self.image_encoder(x)

    # -- text -----------------------------------------------------------------------------------
    def tag(self, tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """B/I/O logits ``B x T x 3`` of token embeddings ``B x T x text_dim``."""
        return self.span_extractor(tokens, attention_mask)

    def span_queries(self, tokens: torch.Tensor, span_index: torch.Tensor) -> torch.Tensor:
        """Queries of spans.

        Args:
            tokens: ``B x T x text_dim`` token embeddings.
            span_index: ``B x K x T`` 0/1 float, which tokens belong to each of K spans.

        Returns:
            ``B x K x D`` queries (mean of the projected tokens of each span).
        """
        proj = self.query_proj(tokens)
        weights = span_index / span_index.sum(-1, keepdim=True).clamp(min=1.0)
        return weights @ proj

    def context(self, tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor | None:
        """``B x D`` context tokens (mean projected embedding of the whole text), or None."""
        if self.context_proj is None:
            return None
        w = attention_mask.float()
        w = w / w.sum(-1, keepdim=True).clamp(min=1.0)
        return (w.unsqueeze(1) @ self.context_proj(tokens)).squeeze(1)

    def dense_logits(self, image: ImageFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """Auxiliary part and object class logits at stride 4 (training only)."""
        if self.dense_head is None:
            raise RuntimeError("this model was built without the auxiliary dense head")
        return self.dense_head(image)

    # -- masks ----------------------------------------------------------------------------------
    def decode(
        self,
        image: ImageFeatures,
        query: torch.Tensor,
        history: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One span's mask.

        Args:
            image: :data:`ImageFeatures` of B images (or of one image shared by all B queries).
            query: ``B x D`` span queries.
            history: encoded earlier masks ``B x K x D x g x g`` (see :meth:`encode_history`),
                or None for the first span / no feedback.
            context: ``B x D`` context tokens (:meth:`context`) or None.

        Returns:
            ``(mask logits B x 1 x M x M, presence logits B)`` with ``M = 4 g``.
        """
        b = query.shape[0]
        sparse = query.unsqueeze(1) if context is None else torch.stack([query, context], 1)
        if self.feedback is not None and history is not None and history.shape[1] > 0:
            dense = self.feedback.pool(history, query)
        else:
            g = self.config.grid
            dense = self.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(b, -1, g, g)
        masks, presence = self.mask_decoder.predict_masks(
            image[0], self.prompt_encoder.get_dense_pe(), sparse, dense, high_res=(image[1], image[2])
        )
        return masks[:, :1], presence[:, 0]

    def encode_history(self, mask_logits: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Feedback features ``B x D x g x g`` of one span's mask logits ``B x 1 x M x M`` and query."""
        if self.feedback is None:
            raise RuntimeError("this model was built without mask feedback")
        return self.feedback.encode(self.prompt_encoder.mask_downscaling, mask_logits, query)

    def decode_all(
        self,
        image: ImageFeatures,
        queries: torch.Tensor,
        detach_history: bool = True,
        context: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All K spans in order, each seeing the earlier ones' masks (each encoded once).

        Args:
            image: :data:`ImageFeatures` of B images (or one image shared by the B rows).
            queries: ``B x K x D``.
            detach_history: stop gradients through the fed-back masks (as in training).
            context: ``B x D`` context tokens (:meth:`context`) or None.

        Returns:
            ``(mask logits B x K x M x M, presence logits B x K)``.
        """
        feats: list[torch.Tensor] = []
        masks, presence = [], []
        for k in range(queries.shape[1]):
            history = torch.stack(feats, dim=1) if feats else None
            m, p = self.decode(image, queries[:, k], history, context)
            masks.append(m[:, 0])
            presence.append(p)
            if self.feedback is not None and k + 1 < queries.shape[1]:
                feats.append(self.encode_history(m.detach() if detach_history else m, queries[:, k]))
        if not masks:
            b, g = queries.shape[0], self.config.mask_size
            return queries.new_zeros(b, 0, g, g), queries.new_zeros(b, 0)
        return torch.stack(masks, 1), torch.stack(presence, 1)


def flip_average(
    model: PlumSmall,
    image: ImageFeatures,
    mirrored: ImageFeatures,
    queries: torch.Tensor,
    context: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Test-time augmentation: decode the spans on the image and on its left-right mirror.

    ``mirrored`` are the features of the mirrored image; its masks are mirrored back and the two
    mask probabilities averaged (returned as logits), as are the presence logits. Descriptions
    never say left or right, so both views answer the same question.
    """
    return average_mirrored(
        model.decode_all(image, queries, context=context),
        model.decode_all(mirrored, queries, context=context),
    )


def average_mirrored(
    plain: tuple[torch.Tensor, torch.Tensor], mirrored: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Average ``(mask logits, presence logits)`` of an image and of its mirror (mask
    probabilities averaged after mirroring back, returned as logits); see :func:`flip_average`."""
    (logits, presence), (logits_m, presence_m) = plain, mirrored
    prob = (logits.sigmoid() + logits_m.flip(-1).sigmoid()) / 2
    return torch.logit(prob.clamp(1e-6, 1 - 1e-6)), (presence + presence_m) / 2
