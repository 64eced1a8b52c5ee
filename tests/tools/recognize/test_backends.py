"""Recognition backends: open_clip on a tiny random checkpoint, clip-small, validation, caching."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mereo.cache import FeatureCache
from mereo.errors import CheckpointError, UnknownBackendError, ValidationError
from mereo.tools import correspond, recognize
from mereo.tools.base import Recognition, Recognizer, ToolContext
from mereo.types import ImageRef, Mask

TINY_ARCH = "mereo-test-tiny-clip"
TINY_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A randomly initialised open_clip model saved as a plain state dict (the published .pt format)."""
    import open_clip

    d = tmp_path_factory.mktemp("openclip")
    (d / f"{TINY_ARCH}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(d / f"{TINY_ARCH}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_ARCH)
    path = d / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


def _image(seed: int = 0) -> ImageRef:
    return ImageRef(np.random.default_rng(seed).integers(0, 255, size=(40, 56, 3), dtype=np.uint8))


def test_registry_and_name_errors(tool_ctx):
    assert recognize.list_backends() == [
        "clip-small",
        "grounding-dino",
        "open_clip",
        "oracle",
        "owlv2",
        "synthparts-cnn",
    ]
    with pytest.raises(UnknownBackendError):
        recognize.build("clip-huge", tool_ctx)
    with pytest.raises(ValidationError, match="architecture and weights"):
        recognize.build("open_clip", tool_ctx)
    with pytest.raises(CheckpointError, match="unknown open_clip architecture"):
        recognize.build("open_clip:NoSuchNet:/tmp/x.pt", tool_ctx)


def test_open_clip_backend_on_tiny_checkpoint(tiny_weights, tool_ctx):
    rec = recognize.build(f"open_clip:{TINY_ARCH}:{tiny_weights}", tool_ctx)
    assert isinstance(rec, Recognizer)
    img = _image()
    found = rec.recognize(img, candidates=["chair", "dog", "car"], top_k=2)
    assert len(found) <= 2
    for r in found:
        assert isinstance(r, Recognition) and r.label in {"chair", "dog", "car"} and 0 <= r.score <= 1
        assert r.mask is not None and tuple(r.mask.size) == (img.height, img.width)
    scores = rec.score(img, None, ["a chair", "a dog"])
    assert len(scores) == 2 and all(-1 <= s <= 1 for s in scores)
    mask = np.zeros((40, 56), bool)
    mask[5:20, 10:30] = True
    assert len(rec.score(img, Mask.from_numpy(mask), ["a chair"])) == 1
    feats = recognize.patch_features(rec, img)
    assert feats.grid == (4, 4) and feats.tokens.shape == (16, 16)
    assert any(e.get("cache") == "hit" for e in tool_ctx.events)


def test_weights_are_really_loaded(tiny_weights, tool_ctx):
    a = recognize.build(f"open_clip:{TINY_ARCH}:{tiny_weights}", tool_ctx)
    b = recognize.build(f"open_clip:{TINY_ARCH}:{tiny_weights}", ToolContext(FeatureCache(), "cpu"))
    img = _image(1)  # b has its own cache: its features are computed again
    assert torch.allclose(a.patch_features(img).tokens, b.patch_features(img).tokens)


def test_recognizer_validates_inputs(tiny_weights, tool_ctx):
    rec = recognize.build(f"open_clip:{TINY_ARCH}:{tiny_weights}", tool_ctx)
    img = _image()
    with pytest.raises(ValidationError, match="list of strings"):
        rec.recognize(img, candidates="chair")
    with pytest.raises(ValidationError):
        rec.recognize(img, candidates=[])
    with pytest.raises(ValidationError, match="top_k"):
        rec.recognize(img, candidates=["chair"], top_k=0)
    with pytest.raises(ValidationError, match="frame"):
        rec.score(img, Mask.from_numpy(np.ones((8, 8), bool)), ["a chair"])
    with pytest.raises(ValidationError, match="empty"):
        rec.score(img, Mask.from_numpy(np.zeros((40, 56), bool)), ["a chair"])


def test_clip_patches_correspondence_uses_recognizer_tokens(tiny_weights, tool_ctx):
    corr = correspond.build(f"clip-patches:open_clip:{TINY_ARCH}:{tiny_weights}", tool_ctx)
    img = _image()
    f = correspond.dense_features(corr, img)
    assert f.grid == (4, 4) and f.tokens.shape == (16, 16)
    assert len(corr.match_points(img, [(5.0, 5.0)], img)) == 1


def test_clip_small_checkpoint_loads_and_recognises(tool_ctx):
    """The committed clip-small: within the size limit, fp16 weights load into open_clip's CLIP, it
    classifies gold object crops of unseen test scenes far above chance (1/27), and recognize() on a
    real SynthParts scene returns valid, in-frame results."""
    from mereo.checkpoints import read_manifest
    from mereo.data.arrays import scenes_to_arrays
    from mereo.data.synthparts import CATEGORIES, PART_LABELS, TRAIN_CATEGORIES, generate_scenes
    from mereo.tools.recognize.training.evaluate import crop_accuracy

    manifest = read_manifest("clip-small")
    assert manifest["size_bytes"] <= 15e6 and manifest["architecture"] == "open_clip.CLIP"
    rec = recognize.build("clip-small", tool_ctx)
    scenes = list(generate_scenes("test", 20, seed=5))
    data = scenes_to_arrays(scenes, list(PART_LABELS), list(CATEGORIES), "test")
    acc, n = crop_accuracy(rec.clip, data, list(TRAIN_CATEGORIES), describe=False)
    assert n >= 20 and acc >= 5 / len(TRAIN_CATEGORIES)
    img = ImageRef(scenes[0].image)
    found = rec.recognize(img, candidates=list(TRAIN_CATEGORIES), top_k=3)
    assert found
    for r in found:
        assert r.label in TRAIN_CATEGORIES and r.mask is not None and tuple(r.mask.size) == (128, 128)
    emb = rec.patch_features(img).tokens
    assert emb.shape == (64, 128) and torch.isfinite(emb).all()


def test_open_clip_local_dir_format(tmp_path, tool_ctx):
    """open_clip's folder format: open_clip_config.json + open_clip_model.safetensors."""
    import open_clip
    from safetensors.torch import save_file

    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {}}))
    torch.manual_seed(1)
    model = open_clip.CLIP(**TINY_CFG)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(tmp_path / "open_clip_model.safetensors"),
    )
    rec = recognize.build(f"open_clip:local-dir:{tmp_path}", tool_ctx)
    img = _image(2)
    expected = model.eval().visual(rec.clip.to_pixels(img.array))
    got = rec.clip.image_and_tokens(rec.clip.to_pixels(img.array))[0]
    assert torch.allclose(expected, got, atol=1e-5)
