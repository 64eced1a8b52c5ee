"""Correspondence backends: registry, dinov2 from a save_pretrained folder, none, caching, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mereo.errors import CheckpointError, UnknownBackendError, ValidationError
from mereo.tools import correspond
from mereo.tools.base import Correspondence, Corresponder
from mereo.tools.correspond.encoder import build_model
from mereo.types import ImageRef, Mask, PartMask

TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "mlp_ratio": 2,
    "patch_size": 8,
    "image_size": 32,
}


def _scene(seed: int) -> tuple[ImageRef, list[PartMask]]:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
    left, right = np.zeros((48, 64), bool), np.zeros((48, 64), bool)
    left[8:40, 4:28] = True
    right[8:40, 36:60] = True
    parts = [PartMask(label=lab, mask=Mask.from_numpy(m)) for lab, m in (("leg", left), ("seat", right))]
    return ImageRef(img), parts


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("dinov2-tiny")
    build_model(TINY).save_pretrained(d)
    return d


def test_registry_lists_the_backends(tool_ctx):
    assert set(correspond.list_backends()) == {
        "dinov2-small",
        "synthparts-cnn",
        "dinov2",
        "clip-patches",
        "none",
        "oracle",
    }
    with pytest.raises(UnknownBackendError, match="known backends"):
        correspond.build("dino-large", tool_ctx)


def test_dinov2_from_pretrained_folder(tiny_dir, tool_ctx):
    corr = correspond.build(f"dinov2:{tiny_dir}", tool_ctx)
    assert isinstance(corr, Corresponder)
    (a, pa), (b, pb) = _scene(0), _scene(1)
    res = corr.correspond(a, pa, b, pb)
    assert isinstance(res, Correspondence)
    sim = np.array(res.similarity)
    assert sim.shape == (2, 2) and np.all(np.abs(sim) <= 1.0)
    for i, j, s in res.matches:
        assert s >= res.threshold and sim[i].argmax() == j and sim[:, j].argmax() == i
    # the same image against itself: every part is its own mutual best match
    self_res = corr.correspond(a, pa, a, pa)
    assert sorted((i, j) for i, j, _ in self_res.matches) == [(0, 0), (1, 1)]
    # each image was encoded once; later calls hit the cache
    misses = [e for e in tool_ctx.events if e.get("cache") == "miss"]
    assert len(misses) == 2 and any(e.get("cache") == "hit" for e in tool_ctx.events)


def test_match_points_identity_and_range(tiny_dir, tool_ctx):
    corr = correspond.build(f"dinov2:{tiny_dir}", tool_ctx)
    a, _ = _scene(0)
    pts = [(10.0, 10.0), (50.0, 30.0)]
    out = corr.match_points(a, pts, a)
    assert len(out) == 2
    for x, y in out:
        assert 0 <= x <= a.width and 0 <= y <= a.height
    with pytest.raises(ValidationError, match="outside"):
        corr.match_points(a, [(100.0, 5.0)], a)


def test_dense_features_shape(tiny_dir, tool_ctx):
    a, _ = _scene(0)
    f = correspond.dense_features(f"dinov2:{tiny_dir}", a, tool_ctx)
    # published configs keep their own image size (32 here): 4 x 4 patches of 8 px
    assert f.grid == (4, 4) and f.tokens.shape == (16, 32)
    enc = correspond.load_encoder(f"dinov2:{tiny_dir}", device="cpu")
    assert enc.encode_batch(np.stack([a.array, a.array])).shape == (2, 16, 32)


def test_bad_inputs_raise_mereo_errors(tiny_dir, tool_ctx):
    with pytest.raises(ValidationError, match="needs weights"):
        correspond.build("dinov2", tool_ctx)
    with pytest.raises(CheckpointError, match="could not load"):
        correspond.build(f"dinov2:{tiny_dir}/missing", tool_ctx)
    corr = correspond.build(f"dinov2:{tiny_dir}", tool_ctx)
    a, pa = _scene(0)
    wrong = [PartMask(label="leg", mask=Mask.from_numpy(np.ones((10, 10), bool)))]
    with pytest.raises(ValidationError, match="frame"):
        corr.correspond(a, wrong, a, pa)


def test_none_backend_is_neutral(tool_ctx):
    corr = correspond.build("none", tool_ctx)
    (a, pa), (b, pb) = _scene(0), _scene(1)
    res = corr.correspond(a, pa, b, pb[:1])
    assert res.similarity == [[0.0], [0.0]] and res.matches == []
    assert corr.match_points(a, [(32.0, 24.0)], b) == [(32.0, 24.0)]
    with pytest.raises(ValidationError):
        correspond.dense_features(corr, a)


def test_dinov2_small_checkpoint_matches_same_parts_better_than_random():
    """The committed encoder: manifest within limits, and a real SynthParts pair beats random init."""
    from mereo.checkpoints import read_manifest
    from mereo.data.arrays import scenes_to_arrays
    from mereo.data.synthparts import generate_scenes
    from mereo.tools.correspond.encoder import DenseEncoder
    from mereo.tools.correspond.training.evaluate import encoder_features, evaluate_pairs, sample_pairs

    manifest = read_manifest("dinov2-small")
    assert manifest["size_bytes"] <= 15e6 and manifest["architecture"] == "transformers.Dinov2Model"
    from mereo.data.synthparts import CATEGORIES, PART_LABELS

    scenes = list(generate_scenes("test", 16, seed=3))
    data = scenes_to_arrays(scenes, list(PART_LABELS), list(CATEGORIES), "test")
    pairs = sample_pairs(data, 30, seed=0)
    trained = evaluate_pairs(encoder_features(correspond.load_encoder("dinov2-small", "cpu")), data, pairs)
    torch.manual_seed(0)
    random = evaluate_pairs(encoder_features(DenseEncoder(build_model(), device="cpu")), data, pairs)
    assert trained["part_match_acc"] > random["part_match_acc"]


def test_threshold_entry_is_the_quantile_of_same_label_similarities():
    from mereo.tools.correspond.training.evaluate import threshold_entry

    same = [i / 100 for i in range(101)]  # 0.00 .. 1.00
    entry = threshold_entry(same, 0.1, split="val")
    assert entry["value"] == pytest.approx(0.1)
    assert entry["same_label_pairs"] == 101 and entry["split"] == "val"
    assert threshold_entry(same, 0.5)["value"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        threshold_entry([], 0.1)


def test_dinov2_small_uses_the_threshold_calibrated_in_its_manifest(tmp_path, tool_ctx):
    """The committed manifest's calibrated threshold reaches the backend and its Correspondence."""
    from mereo.checkpoints import read_manifest, update_manifest

    calibrated = read_manifest("dinov2-small")["match_threshold"]["value"]
    corr = correspond.build("dinov2-small", tool_ctx)
    assert corr.threshold == pytest.approx(calibrated)
    a, parts_a = _scene(0)
    b, parts_b = _scene(1)
    out = corr.correspond(a, parts_a, b, parts_b)
    assert out.threshold == pytest.approx(calibrated)
    assert all(s >= calibrated for _, _, s in out.matches)
    # update_manifest sets fields and keeps the rest (on a copy of the manifest)
    import shutil

    from mereo.checkpoints import CHECKPOINT_DIR

    shutil.copy(CHECKPOINT_DIR / "dinov2-small.json", tmp_path / "dinov2-small.json")
    updated = update_manifest("dinov2-small", {"match_threshold": {"value": 0.9}}, directory=tmp_path)
    assert read_manifest("dinov2-small", tmp_path)["match_threshold"] == {"value": 0.9}
    assert updated["sha256"] == read_manifest("dinov2-small")["sha256"]
