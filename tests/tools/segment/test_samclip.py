"""sam-clip: the full-size loading path on tiny randomly initialised SAM and CLIP checkpoints.

The SAM file is a plain ``state_dict`` saved with ``torch.save`` (the official ``.pth`` format);
the CLIP folder is open_clip's ``local-dir`` layout (``open_clip_config.json`` + safetensors).
"""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch

from mereo.cache import FeatureCache
from mereo.errors import CheckpointError, ValidationError
from mereo.tools.base import ToolContext
from mereo.tools.segment import build
from mereo.tools.segment.sam_clip import SamClipSettings


def _tiny_sam():
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(0)
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=64,
            patch_size=16,
            embed_dim=32,
            depth=2,
            num_heads=2,
            mlp_ratio=2,
            out_chans=32,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            global_attn_indexes=[1],
            window_size=2,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=32, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=8
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer_dim=32,
            iou_head_depth=3,
            iou_head_hidden_dim=32,
            transformer=TwoWayTransformer(depth=2, embedding_dim=32, mlp_dim=64, num_heads=8),
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import open_clip
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("samclip")
    sam = _tiny_sam()
    torch.save(sam.state_dict(), d / "sam_tiny.pth")
    clip_dir = d / "clip"
    clip_dir.mkdir()
    vision = {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16}
    text = {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}
    model_cfg = {"embed_dim": 16, "vision_cfg": vision, "text_cfg": text}
    config = {"model_cfg": model_cfg, "preprocess_cfg": {}}
    (clip_dir / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    clip = open_clip.CLIP(**model_cfg)
    state = {k: v.contiguous() for k, v in clip.state_dict().items()}
    save_file(state, str(clip_dir / "open_clip_model.safetensors"))
    return d, sam


def test_settings_parse_every_form(monkeypatch) -> None:
    monkeypatch.delenv("MEREO_SAM_CHECKPOINT", raising=False)
    s = SamClipSettings.parse("vit_b:/m/sam.pth")
    assert (s.sam_type, s.sam) == ("vit_b", "/m/sam.pth")
    assert SamClipSettings.parse("/m/sam.pth").sam == "/m/sam.pth"
    s = SamClipSettings.parse("sam=/m/s.pth,clip=local-dir:/m/c,points=4,pred_iou=0.5")
    assert (s.sam, s.clip, s.points, s.pred_iou) == ("/m/s.pth", "local-dir:/m/c", 4, 0.5)
    with pytest.raises(CheckpointError, match="MEREO_SAM_CHECKPOINT"):
        SamClipSettings.parse(None)
    monkeypatch.setenv("MEREO_SAM_CHECKPOINT", "/env/sam.pth")
    assert SamClipSettings.parse(None).sam == "/env/sam.pth"
    with pytest.raises(ValidationError):
        SamClipSettings.parse("sam=/x.pth,colour=red")


def test_sam_architecture_is_read_from_the_checkpoint(weights) -> None:
    from mereo.checkpoints import torch_load
    from mereo.tools.segment.sam_clip import build_sam_from_state

    d, sam = weights
    rebuilt = build_sam_from_state(torch_load(d / "sam_tiny.pth"))
    assert rebuilt.image_encoder.img_size == 64
    for (k, v), (k2, v2) in zip(sam.state_dict().items(), rebuilt.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)
    with pytest.raises(CheckpointError, match="width 32"):
        build_sam_from_state(torch_load(d / "sam_tiny.pth"), "vit_b")
    with pytest.raises(CheckpointError, match="not a segment-anything"):
        build_sam_from_state({"foo": torch.zeros(1)})


def test_sam_clip_segments_through_the_registry(weights) -> None:
    d, _ = weights
    ctx = ToolContext(FeatureCache(), device="cpu")
    name = f"sam-clip:sam={d / 'sam_tiny.pth'},clip=local-dir:{d / 'clip'},points=4,pred_iou=0,stability=0"
    seg = build(name, ctx)
    img = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    out = seg.segment(img, parts=["seat", "legs"], object="chair")
    assert [p.label for p in out] == ["seat", "leg"]
    for p in out:
        assert p.mask.size == (48, 80) and not p.mask.is_empty() and p.source == "segment:sam-clip"
    assert [p.label for p in seg.segment(img, text="A chair with wheels and a seat.", object="chair")] == [
        "wheel",
        "seat",
    ]
    assert [e["cache"] for e in ctx.events if "cache" in e] == ["miss", "hit"]


def test_sam_clip_refuses_missing_or_downloadable_weights(weights, tmp_path) -> None:
    d, _ = weights
    ctx = ToolContext(FeatureCache())
    with pytest.raises(CheckpointError, match="not found"):
        build(f"sam-clip:{tmp_path / 'nope.pth'}", ctx)
    with pytest.raises(CheckpointError, match="download"):
        build(f"sam-clip:sam={d / 'sam_tiny.pth'},clip=hf-hub:laion/CLIP", ctx)
    with pytest.raises(CheckpointError, match="never downloads"):
        build(f"sam-clip:sam={d / 'sam_tiny.pth'},clip=ViT-B-32", ctx)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        build(f"sam-clip:{bad}", ctx)
