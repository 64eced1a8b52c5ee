"""The ``sam-clip`` backend: segment-anything automatic masks ranked by CLIP similarity.

The zero-shot baseline a user would try: SAM proposes masks for the whole image, each masked crop
is embedded by an open_clip model, and each requested part gets the mask whose crop is most
similar to ``"the {part} of a {object}"``.

Weights are the user's own (nothing is downloaded). The backend name's argument is either
``"[vit_b|vit_l|vit_h|auto:]/path/sam.pth"`` or comma-separated ``key=value`` settings::

    sam-clip:vit_b:/models/sam_vit_b_01ec64.pth
    sam-clip:sam=/models/sam.pth,clip=ViT-B-32,clip_pretrained=/models/clip.bin,points=16
    sam-clip:sam=/models/sam.pth,clip=local-dir:/models/my-clip

Missing settings come from ``MEREO_SAM_CHECKPOINT``, ``MEREO_SAM_TYPE``, ``MEREO_CLIP_MODEL`` and
``MEREO_CLIP_PRETRAINED``. The SAM architecture is read off the checkpoint's tensor shapes, so
official ``vit_b``/``vit_l``/``vit_h`` files and smaller SAM-format checkpoints load alike; the
type, when given, is checked against them. ``.pth`` files load with ``weights_only=True``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from mereo.errors import CheckpointError, ValidationError
from mereo.tools.base import ToolContext
from mereo.tools.segment.common import check_request, part_mask, wanted_parts
from mereo.types import ImageRef, PartMask

SAM_WIDTHS = {"vit_b": 768, "vit_l": 1024, "vit_h": 1280}


@dataclass
class SamClipSettings:
    """Where the weights are and how masks are generated."""

    sam: str | None = None
    sam_type: str = "auto"
    clip: str = "ViT-B-32"
    clip_pretrained: str | None = None
    points: int = 16
    pred_iou: float = 0.88
    stability: float = 0.95
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, arg: str | None) -> SamClipSettings:
        """Settings from the backend argument, then the environment."""
        s = cls(
            sam=os.environ.get("MEREO_SAM_CHECKPOINT"),
            sam_type=os.environ.get("MEREO_SAM_TYPE", "auto"),
            clip=os.environ.get("MEREO_CLIP_MODEL", "ViT-B-32"),
            clip_pretrained=os.environ.get("MEREO_CLIP_PRETRAINED"),
        )
        if arg:
            if "=" not in arg:
                kind, sep, path = arg.partition(":")
                if sep and kind in (*SAM_WIDTHS, "auto"):
                    s.sam_type, s.sam = kind, path
                else:
                    s.sam = arg
            else:
                for item in arg.split(","):
                    key, _, value = item.partition("=")
                    key = key.strip()
                    if key in ("sam", "sam_type", "clip", "clip_pretrained"):
                        setattr(s, key, value.strip())
                    elif key in ("points",):
                        s.points = int(value)
                    elif key in ("pred_iou", "stability"):
                        setattr(s, key, float(value))
                    else:
                        raise ValidationError(
                            f"unknown sam-clip setting {key!r}; use sam, sam_type, clip, "
                            "clip_pretrained, points, pred_iou, stability."
                        )
        if not s.sam:
            raise CheckpointError(
                "the sam-clip backend needs a SAM checkpoint: use "
                "'sam-clip:vit_b:/path/sam_vit_b.pth' or set MEREO_SAM_CHECKPOINT."
            )
        if s.sam_type not in (*SAM_WIDTHS, "auto"):
            raise ValidationError(f"unknown SAM type {s.sam_type!r}; use vit_b, vit_l, vit_h or auto.")
        return s


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({int(m.group(1)) for k in state if (m := rx.match(k))})


def build_sam_from_state(state: dict[str, torch.Tensor], sam_type: str = "auto") -> Any:
    """A segment-anything ``Sam`` whose architecture is read from a SAM state dict, with its weights.

    Raises:
        CheckpointError: not a SAM state dict, a type that does not match, or shapes that do not fit.
    """
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    try:
        width, _, patch, _ = state["image_encoder.patch_embed.proj.weight"].shape
        grid = state["image_encoder.pos_embed"].shape[1]
        depth = _count(state, r"image_encoder\.blocks\.(\d+)\.")
        head_dim = state["image_encoder.blocks.0.attn.rel_pos_h"].shape[1]
        mlp_ratio = state["image_encoder.blocks.0.mlp.lin1.weight"].shape[0] / width
        rel = [state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] for i in range(depth)]
        out_chans = state["image_encoder.neck.0.weight"].shape[0]
        mask_in = state["prompt_encoder.mask_downscaling.0.weight"].shape[0] * 4
        dec_depth = _count(state, r"mask_decoder\.transformer\.layers\.(\d+)\.")
        dec_mlp = state["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0]
        n_masks = state["mask_decoder.mask_tokens.weight"].shape[0]
        iou_hidden = state["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]
        iou_depth = _count(state, r"mask_decoder\.iou_prediction_head\.layers\.(\d+)\.")
    except (KeyError, IndexError, ValueError) as e:
        raise CheckpointError(f"this file is not a segment-anything SAM checkpoint (missing {e}).") from e
    if sam_type in SAM_WIDTHS and SAM_WIDTHS[sam_type] != width:
        raise CheckpointError(
            f"the SAM checkpoint has an image encoder of width {width}, not the "
            f"{SAM_WIDTHS[sam_type]} of {sam_type}; pass the matching type or 'auto'."
        )
    global_idx = [i for i, r in enumerate(rel) if r == 2 * grid - 1]
    windows = [(r + 1) // 2 for r in rel if r != 2 * grid - 1]
    img_size = grid * patch
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=depth,
            embed_dim=width,
            img_size=img_size,
            mlp_ratio=mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=width // head_dim,
            patch_size=patch,
            qkv_bias="image_encoder.blocks.0.attn.qkv.bias" in state,
            use_rel_pos=True,
            global_attn_indexes=global_idx,
            window_size=windows[0] if windows else 0,
            out_chans=out_chans,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=out_chans,
            image_embedding_size=(grid, grid),
            input_image_size=(img_size, img_size),
            mask_in_chans=mask_in,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=n_masks - 1,
            transformer=TwoWayTransformer(
                depth=dec_depth, embedding_dim=out_chans, mlp_dim=dec_mlp, num_heads=8
            ),
            transformer_dim=out_chans,
            iou_head_depth=iou_depth,
            iou_head_hidden_dim=iou_hidden,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    try:
        sam.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(
            f"the SAM checkpoint's tensors do not fit the architecture read from it ({e})."
        ) from e
    return sam.eval()


def load_clip(name: str, pretrained: str | None, device: torch.device) -> tuple[Any, Any, Any]:
    """``(model, preprocess, tokenizer)`` from open_clip; never downloads (hub ids are refused)."""
    import open_clip

    if name.startswith("hf-hub:"):
        raise CheckpointError(
            "sam-clip does not download CLIP weights; save them locally and use "
            "clip=local-dir:/path (a folder with open_clip_config.json and the weights)."
        )
    if pretrained and not os.path.isfile(pretrained):
        raise CheckpointError(
            f"CLIP weights file not found: {pretrained}; pass clip_pretrained=/path/to/file."
        )
    if not name.startswith("local-dir:") and not pretrained:
        raise CheckpointError(
            f"no CLIP weights for {name}: pass clip_pretrained=/path/to/weights or "
            "clip=local-dir:/path (sam-clip never downloads)."
        )
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=device, weights_only=True
        )
        tokenizer = open_clip.get_tokenizer(name)
    except (RuntimeError, ValueError, FileNotFoundError, OSError) as e:
        raise CheckpointError(f"could not load the CLIP model {name!r} ({e}).") from e
    return model.eval(), preprocess, tokenizer


class SamClipSegmenter:
    """SAM proposals ranked by CLIP; see the module docstring."""

    def __init__(
        self,
        ctx: ToolContext,
        sam: Any,
        clip: tuple[Any, Any, Any],
        settings: SamClipSettings,
        name: str = "sam-clip",
    ):
        from segment_anything import SamAutomaticMaskGenerator

        from mereo.device import resolve_device

        self.ctx = ctx
        self.name = name
        self.device = resolve_device(ctx.device)
        self.sam = sam.to(self.device)
        self.clip, self.preprocess, self.tokenizer = clip
        self.clip = self.clip.to(self.device)
        self.generator = SamAutomaticMaskGenerator(
            sam,
            points_per_side=settings.points,
            pred_iou_thresh=settings.pred_iou,
            stability_score_thresh=settings.stability,
        )
        self._vocabulary: list[str] | None = None

    def vocabulary(self) -> list[str]:
        """Part names the text parser looks for (the knowledge base's part vocabulary)."""
        if self._vocabulary is None:
            try:
                from mereo.knowledge import PartHierarchy

                self._vocabulary = PartHierarchy.default().part_vocabulary()
            except Exception:  # noqa: BLE001 - fall back to SynthParts' names
                from mereo.data.synthparts import PART_LABELS

                self._vocabulary = sorted(PART_LABELS)
        return self._vocabulary

    @torch.no_grad()
    def proposals(self, image: Any) -> tuple[list[np.ndarray], torch.Tensor]:
        """SAM masks (``H x W`` bool) and their crops' L2-normalised CLIP embeddings ``N x E``; cached."""
        from PIL import Image

        def compute() -> tuple[list[np.ndarray], torch.Tensor]:
            masks = [m["segmentation"].astype(bool) for m in self.generator.generate(image.array)]
            masks = [m for m in masks if m.any()]
            crops = []
            for m in masks:
                ys, xs = np.nonzero(m)
                crop = np.where(m[..., None], image.array, 127).astype(np.uint8)
                crop = crop[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
                crops.append(self.preprocess(Image.fromarray(crop)))
            if not crops:
                return masks, torch.zeros(0, 1)
            feats = self.clip.encode_image(torch.stack(crops).to(self.device)).float()
            return masks, torch.nn.functional.normalize(feats, dim=-1).cpu()

        return self.ctx.cached(
            f"segment:{self.name}",
            image.sha256,
            compute,
            tool="segment",
            backend=self.name,
            what="SAM masks + CLIP crop embeddings",
            image=image.sha256[:12],
        )

    @torch.no_grad()
    def segment(
        self,
        image: Any,
        text: str | None = None,
        parts: Sequence[str] | None = None,
        object: str | None = None,
        image_index: int = 0,
    ) -> list[PartMask]:
        """The best-matching SAM mask per requested part (parts from ``parts`` or found in ``text``)."""
        img = ImageRef(image)
        req = check_request(text, parts, object, image_index)
        wanted = wanted_parts(req, self.vocabulary)
        if not wanted:
            return []
        masks, feats = self.proposals(img)
        if not masks:
            return []
        obj = req.object or "object"
        prompts = [f"the {p} of a {obj}" for p in wanted]
        tfeat = self.clip.encode_text(self.tokenizer(prompts).to(self.device)).float()
        sims = (torch.nn.functional.normalize(tfeat, dim=-1).cpu() @ feats.T).numpy()  # parts x masks
        out = []
        for i, label in enumerate(wanted):
            j = int(sims[i].argmax())
            out.append(
                part_mask(
                    label,
                    masks[j],
                    object=req.object,
                    image_index=req.image_index,
                    score=(float(sims[i, j]) + 1) / 2,
                    source=f"segment:{self.name}",
                )
            )
        return out


def build_sam_clip(ctx: ToolContext, arg: str | None) -> SamClipSegmenter:
    """Registry builder; see the module docstring for ``arg``."""
    from mereo.checkpoints import torch_load
    from mereo.device import resolve_device

    settings = SamClipSettings.parse(arg)
    state = torch_load(settings.sam or "")
    if not isinstance(state, dict):
        raise CheckpointError(f"{settings.sam} does not hold a state dict.")
    if "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    sam = build_sam_from_state(state, settings.sam_type)
    clip = load_clip(settings.clip, settings.clip_pretrained, resolve_device(ctx.device))
    return SamClipSegmenter(ctx, sam, clip, settings)
