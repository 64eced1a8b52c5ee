"""The recognition trainer's pieces: crops, patch targets, the multi-positive CLIP loss, detection helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mereo.evals.synthparts import CATEGORIES, PART_LABELS, TRAIN_CATEGORIES, generate_scenes
from mereo.tools.correspond.data import scenes_to_arrays
from mereo.tools.recognize.crops import crop_batch, object_items, part_items, square_box
from mereo.tools.recognize.detect import box_iou, dense_probabilities
from mereo.tools.recognize.prompts import description_prompts, object_prompts
from mereo.tools.recognize.train import IGNORE, multi_positive_clip_loss, patch_targets


@pytest.fixture(scope="module")
def data():
    scenes = list(generate_scenes("train", 6, seed=2))
    return scenes_to_arrays(scenes, list(PART_LABELS), list(CATEGORIES), "train")


def test_square_box_covers_the_mask():
    mask = np.zeros((50, 50), bool)
    mask[10:20, 5:45] = True
    x0, y0, x1, y1 = square_box(mask, margin=0.1)
    assert x1 - x0 == pytest.approx(y1 - y0) and x0 <= 5 and x1 >= 45 and y0 <= 10 and y1 >= 20


def test_crops_items_and_flip(data):
    objs, parts = object_items(data), part_items(data)
    assert objs and len(parts) > len(objs)
    crops = crop_batch(data.images, [o.image for o in objs[:3]], [o.box for o in objs[:3]], 32)
    assert crops.shape == (3, 3, 32, 32) and 0 <= crops.min() and crops.max() <= 1
    flipped = crop_batch(data.images, [objs[0].image], [objs[0].box], 32, flip=np.array([True]))
    assert torch.allclose(flipped[0], crops[0].flip(-1))


def test_patch_targets_use_only_training_names(data):
    names = list(TRAIN_CATEGORIES)
    t = patch_targets(data, 16, names)
    assert t.shape == (6, 8, 8)
    assert ((t == IGNORE) | ((t >= 0) & (t <= len(names)))).all()
    assert (t == len(names)).any()  # background patches exist


def test_multi_positive_loss_prefers_aligned_pairs():
    torch.manual_seed(0)
    keys = torch.tensor([0, 0, 1, 2, 3])
    txt = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    txt[1] = txt[0]
    scale = torch.tensor(20.0)
    aligned = multi_positive_clip_loss(txt.clone(), txt, keys, scale)
    shuffled = multi_positive_clip_loss(txt[[3, 4, 0, 1, 2]], txt, keys, scale)
    assert aligned < shuffled


def test_prompts_and_detection_helpers():
    assert object_prompts("van")[0] == "a van"
    assert description_prompts("van", ["wheel", "door"])[0] == "a van with door, wheel"
    assert description_prompts("van", []) == []
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 1, 1), (5, 5, 1, 1)) == 0.0
    p = dense_probabilities(torch.randn(4, 8), torch.randn(3, 8), torch.randn(8), 10.0)
    assert p.shape == (4, 4) and torch.allclose(p.sum(1), torch.ones(4))


def test_training_run_writes_an_fp16_checkpoint(tmp_path, monkeypatch):
    from mereo.checkpoints import load_checkpoint
    from mereo.tools.recognize.train import main

    monkeypatch.setenv("MEREO_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "ck"
    args = ["--n-train", "8", "--n-val", "6", "--objects", "4", "--parts", "4", "--scenes", "2",
            "--steps-per-epoch", "2", "--out", str(out)]
    assert main(args) == 0
    manifest = json.loads((out / "clip-small.json").read_text())
    assert manifest["architecture"] == "open_clip.CLIP" and "val_object_top1" in manifest["metrics"]["val"]
    state, _ = load_checkpoint("clip-small", out)
    assert state["visual.proj"].dtype == torch.float16
