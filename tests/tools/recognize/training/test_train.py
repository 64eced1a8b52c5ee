"""The recognition trainer's pieces: crops, token targets, the losses, the text warm-up, detection helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mereo.data.synthparts import TRAIN_CATEGORIES
from mereo.tools.recognize.crops import (
    crop_batch,
    jitter_box,
    object_coverage,
    object_items,
    part_items,
    square_box,
)
from mereo.tools.recognize.detect import box_iou, dense_probabilities
from mereo.tools.recognize.prompts import description_prompts, object_prompts
from mereo.tools.recognize.training.train import (
    IGNORE,
    captions,
    crop_token_targets,
    multi_positive_clip_loss,
    patch_targets,
    text_warmup,
)


@pytest.fixture(scope="module")
def data(synthparts_arrays):
    return synthparts_arrays("train", 6, 2)


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


def test_jitter_box_stays_square_and_near():
    rng = np.random.default_rng(0)
    box = (10.0, 20.0, 50.0, 60.0)
    for _ in range(20):
        x0, y0, x1, y1 = jitter_box(box, rng, 0.1)
        assert x1 - x0 == pytest.approx(y1 - y0)
        assert 40 * np.exp(-0.1) - 1e-6 <= x1 - x0 <= 40 * np.exp(0.1) + 1e-6
        assert abs((x0 + x1) / 2 - 30) <= 4 + 1e-6 and abs((y0 + y1) / 2 - 40) <= 4 + 1e-6


def test_object_coverage_gives_token_targets(data):
    objs = object_items(data)
    items = objs[:4]
    cover = object_coverage(data, items, [it.box for it in items], 8)
    assert cover.shape == (4, 8, 8) and 0 <= cover.min() and cover.max() <= 1 + 1e-6
    for it, c in zip(items, cover, strict=True):  # the object fills part of its own crop, about its area
        mask = data.objmap[it.image] == it.obj
        side = it.box[2] - it.box[0]
        assert c.mean() == pytest.approx(min(1.0, mask.sum() / side**2), abs=0.1)
    flipped = object_coverage(data, items[:1], [items[0].box], 8, flip=np.array([True]))
    assert torch.allclose(flipped[0], cover[0].flip(-1))
    t = crop_token_targets(cover, torch.tensor([3, 4, 5, 6]), background=27)
    assert ((t == IGNORE) | (t == 27) | (t == torch.tensor([3, 4, 5, 6]).view(-1, 1, 1))).all()
    assert (t[cover >= 0.5] != 27).all() and (t[cover < 0.1] == 27).all()


@pytest.mark.slow
def test_text_warmup_separates_classes(data):
    from mereo.tools.recognize.model import ClipModel, build_clip, make_tokenizer, small_config

    torch.manual_seed(0)
    cfg = small_config()
    clip = ClipModel(build_clip(cfg), make_tokenizer(cfg["text_cfg"]["context_length"]), device="cpu")
    objs, parts = object_items(data), part_items(data)

    def gap() -> float:  # mean cosine of same-class captions minus that of different classes
        texts, keys = captions(data, objs + parts[:10], np.random.default_rng(1))
        with torch.no_grad():
            emb = clip.text_embeddings(texts)
        sim, same = emb @ emb.T, keys[:, None] == keys[None, :]
        off = ~torch.eye(len(keys), dtype=torch.bool)
        return float(sim[same & off].mean() - sim[~same].mean())

    before, proj = gap(), clip.model.visual.proj.detach().clone()
    text_warmup(
        clip, data, objs, parts, steps=30, batch=min(8, len(objs)), lr=1e-3, rng=np.random.default_rng(0)
    )
    assert gap() > before + 0.1
    assert torch.equal(clip.model.visual.proj, proj)  # the image tower is not touched


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


@pytest.mark.slow
def test_training_run_writes_an_fp16_checkpoint(tmp_path, monkeypatch, cli_args):
    from mereo.checkpoints import load_checkpoint
    from mereo.tools.recognize.training.train import main

    monkeypatch.setenv("MEREO_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "ck"
    args = cli_args(n_train=8, n_val=6, objects=4, parts=4, scenes=2, steps_per_epoch=2, out=out)
    assert main(args) == 0
    manifest = json.loads((out / "clip-small.json").read_text())
    assert manifest["architecture"] == "open_clip.CLIP" and "val_object_top1" in manifest["metrics"]["val"]
    state, _ = load_checkpoint("clip-small", out)
    assert state["visual.proj"].dtype == torch.float16
