"""The correspondence trainer: patch labels, the SupCon loss, and a two-step end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mereo.data.arrays import NO_OBJECT, load_split
from mereo.data.synthparts import CATEGORIES
from mereo.tools.correspond.training.evaluate import keypoint, pixel_features, sample_pairs
from mereo.tools.correspond.training.train import IGNORE, supcon_loss, token_labels


@pytest.fixture(scope="module")
def data(synthparts_arrays):
    return synthparts_arrays("train", 6, 1)


def test_scene_arrays_round_trip_parts(data):
    i, (k, cat) = 0, data.objects(0)[0]
    parts = data.object_parts(i, k)
    assert cat in CATEGORIES and parts
    for mask in parts.values():
        assert mask.any() and not (mask & ~data.object_mask(i, k)).any()


def test_token_labels_background_and_parts(data):
    labels = token_labels(data, 8)
    assert labels.shape == (6, 16, 16)
    bg = len(data.part_labels)
    # a patch with no object pixel at all is background
    empty = np.array(
        [
            [not (data.objmap[0, y : y + 8, x : x + 8] != NO_OBJECT).any() for x in range(0, 128, 8)]
            for y in range(0, 128, 8)
        ]
    )
    assert (labels[0][empty] == bg).all()
    assert ((labels >= 0) & (labels < bg)).any() and ((labels == IGNORE) | (labels <= bg)).all()


def test_supcon_prefers_clustered_features():
    torch.manual_seed(0)
    labels = torch.arange(4).repeat_interleave(8)
    centres = torch.randn(4, 16) * 5
    clustered = centres[labels] + 0.1 * torch.randn(32, 16)
    shuffled = clustered[torch.randperm(32)]
    assert supcon_loss(clustered, labels, 0.1) < supcon_loss(shuffled, labels, 0.1)


def test_pairs_share_parts_and_keypoints_lie_on_masks(data):
    pairs = sample_pairs(data, 5, seed=0)
    assert pairs
    for p in pairs:
        assert p.ia != p.ib
        assert set(data.object_parts(p.ia, p.ka)) & set(data.object_parts(p.ib, p.kb))
    mask = np.zeros((20, 20), bool)
    mask[2:5, 2:18] = True
    x, y = keypoint(mask)
    assert mask[int(y), int(x)]
    toks, grid = pixel_features(8)(data.images[:2])
    assert grid == (16, 16) and toks.shape == (2, 256, 192)


@pytest.mark.slow
def test_training_run_writes_a_checkpoint(tmp_path, monkeypatch, cli_args):
    from mereo.tools.correspond.training.train import main

    monkeypatch.setenv("MEREO_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "ck"
    args = cli_args(
        n_train=8, n_val=6, batch=4, tokens=128, hidden=32, layers=1, val_pairs=10, epochs=1, out=out
    )
    assert main(args) == 0
    manifest = json.loads((out / "dinov2-small.json").read_text())
    assert manifest["config"]["hidden_size"] == 32 and "part_match_acc" in manifest["metrics"]["val"]
    # the agent's threshold is calibrated on the last validation's same-label pairs
    entry = manifest["match_threshold"]
    assert entry["split"] == "val" and entry["same_label_pairs"] > 0 and -1.0 <= entry["value"] <= 1.0
    assert (tmp_path / "data").exists()  # the rendered split was cached
    assert len(load_split("train", 8, seed=0)) == 8


@pytest.mark.slow
def test_a_killed_training_run_resumes_to_the_same_checkpoint(tmp_path, monkeypatch, cli_args):
    """Killed after epoch 1 of 2 and started again, the run ends with the weights of an unbroken run."""
    from mereo.tools.correspond.training import train

    monkeypatch.setenv("MEREO_DATA_DIR", str(tmp_path / "data"))
    args = cli_args(
        n_train=8, n_val=6, batch=4, tokens=64, hidden=32, layers=1, val_pairs=6, epochs=2, threads=1
    )
    assert train.main([*args, "--out", str(tmp_path / "a")]) == 0
    evaluate, calls = train.evaluate_pairs, []

    def dies_in_epoch_two(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(*a, **k)

    monkeypatch.setattr(train, "evaluate_pairs", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train.main([*args, "--out", str(tmp_path / "b")])
    state = tmp_path / "data" / "train-state" / "dinov2-small.pt"
    assert state.exists()
    monkeypatch.setattr(train, "evaluate_pairs", evaluate)
    assert train.main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / d / "dinov2-small.json").read_text()) for d in "ab")
    assert a["sha256"] == b["sha256"] and a["metrics"] == b["metrics"]
    assert not state.exists()  # removed once the checkpoint is written
