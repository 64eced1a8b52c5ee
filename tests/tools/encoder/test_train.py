"""The encoder trainer on a tiny configuration: a few steps, a resume after a stop, a loadable checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from mereo.tools.encoder.runtime import load_encoder
from mereo.tools.encoder.training.train import CURVE_FILE, STATE_FILE, load_state, lr_factor, main

TINY = ["--channels", "8,16,24", "--dim", "16", "--batch-size", "2", "--n-val", "4", "--n-novel", "4"]
TINY += ["--threads", "1", "--quiet", "--save-every-minutes", "0", "--val-every-minutes", "0"]


def test_lr_factor_warms_up_then_follows_a_cosine_on_wall_time():
    assert lr_factor(0, 0.0, 100.0) < 0.01
    assert lr_factor(10_000, 0.0, 100.0) == pytest.approx(1.0)
    assert lr_factor(10_000, 50.0, 100.0) == pytest.approx(0.525)
    assert lr_factor(10_000, 100.0, 100.0) == pytest.approx(0.05)


@pytest.mark.slow
def test_train_resume_and_checkpoint(tmp_path):
    state_dir, out = tmp_path / "state", tmp_path / "ckpt"
    common = [*TINY, "--state-dir", str(state_dir), "--out-dir", str(out), "--name", "tiny-enc"]
    assert main([*common, "--max-steps", "2"]) == 0
    first = load_state(state_dir / STATE_FILE)
    assert first["step"] == 2 and first["scenes"] == 4
    assert main([*common, "--max-steps", "4", "--resume"]) == 0
    second = load_state(state_dir / STATE_FILE)
    # the resumed run continued the scene stream and the optimizer rather than starting again
    assert second["step"] == 4 and second["scenes"] == 8
    assert second["optimizer"]["state"][0]["step"] == 4
    rows = [json.loads(line) for line in (state_dir / CURVE_FILE).read_text().splitlines()]
    assert [r["scenes"] for r in rows] == sorted(r["scenes"] for r in rows)
    assert rows[-1]["scenes"] == 8 and set(rows[-1]["metrics"]) >= {"part_miou", "rec_top1", "novel5"}

    manifest = json.loads((out / "tiny-enc.json").read_text())
    assert manifest["scenes_seen"] == 8 and manifest["steps"] == 4
    assert manifest["command"].startswith("mereo train encoder") and "--out-dir" not in manifest["command"]
    enc = load_encoder(out / "tiny-enc.safetensors")
    for k, v in enc.model.state_dict().items():
        assert torch.equal(v, second["model"][k]), k


@pytest.mark.slow
def test_finalize_from_state_writes_the_checkpoint(tmp_path):
    state_dir, out = tmp_path / "state", tmp_path / "ckpt"
    common = [*TINY, "--state-dir", str(state_dir), "--out-dir", str(out), "--name", "tiny-fin"]
    assert main([*common, "--max-steps", "1"]) == 0
    (out / "tiny-fin.json").unlink()
    png = tmp_path / "curve.png"
    assert main([*common, "--finalize-from-state", "--plot", str(png)]) == 0
    manifest = json.loads((out / "tiny-fin.json").read_text())
    assert manifest["scenes_seen"] == 2 and "--finalize-from-state" in manifest["finalized_from_state_by"]
    assert png.stat().st_size > 1000


@pytest.mark.slow
def test_init_from_starts_a_second_stage_on_new_scenes(tmp_path):
    out = tmp_path / "ckpt"
    common = [*TINY, "--out-dir", str(out), "--name", "tiny-stage"]
    assert main([*common, "--state-dir", str(tmp_path / "s1"), "--max-steps", "2"]) == 0
    first = json.loads((out / "tiny-stage.json").read_text())
    first_weights = load_encoder(out / "tiny-stage.safetensors").model.state_dict()
    first_weights = {k: v.clone() for k, v in first_weights.items()}
    init = ["--init-from", str(out / "tiny-stage.safetensors"), "--lr", "1e-3"]
    assert main([*common, *init, "--state-dir", str(tmp_path / "s2"), "--max-steps", "3"]) == 0
    state = load_state(tmp_path / "s2" / STATE_FILE)
    # the second stage numbered its scenes on from the first (new scenes) and trained from its weights
    assert state["scenes"] == 4 + 6 and state["step"] == 3
    manifest = json.loads((out / "tiny-stage.json").read_text())
    assert [s["command"] for s in manifest["stages"]][0] == first["command"]
    assert "--init-from" in manifest["stages"][1]["command"]
    assert manifest["command"] == " && ".join(s["command"] for s in manifest["stages"])
    assert manifest["seconds"] >= first["seconds"] and manifest["scenes_seen"] == 10
    assert len(manifest["curve"]) > len(first["curve"])
    # a third stage keeps every earlier stage
    assert main([*common, *init, "--state-dir", str(tmp_path / "s3"), "--max-steps", "1"]) == 0
    assert len(json.loads((out / "tiny-stage.json").read_text())["stages"]) == 3


def test_init_from_a_checkpoint_of_another_shape_is_a_clear_error(tmp_path):
    out = tmp_path / "ckpt"
    common = [*TINY, "--out-dir", str(out), "--name", "tiny-a", "--state-dir", str(tmp_path / "a")]
    assert main([*common, "--max-steps", "1"]) == 0
    from mereo.errors import CheckpointError

    other = [a if a != "8,16,24" else "8,16,32" for a in TINY]
    args = [*other, "--out-dir", str(tmp_path / "b"), "--state-dir", str(tmp_path / "b")]
    with pytest.raises(CheckpointError, match="does not fit"):
        main([*args, "--init-from", str(out / "tiny-a.safetensors"), "--max-steps", "1"])


def test_zoom_views_enlarge_one_object_and_keep_labels_aligned():
    from mereo.tools.encoder.training.data import ZOOM_MAX_SHARE, render_batch

    whole = render_batch(0, 4000, 16, 128)
    zoomed = render_batch(0, 4000, 16, 128, zoom=1.0)
    assert zoomed.images.shape == whole.images.shape and zoomed.part.shape == whole.part.shape
    changed = [i for i in range(16) if not torch.equal(zoomed.images[i], whole.images[i])]
    assert changed, "some scene has an object small enough to zoom in on"
    for i in range(16):
        fg_whole, fg_zoom = (whole.inst[i] >= 0).float().mean(), (zoomed.inst[i] >= 0).float().mean()
        if i in changed:
            # the crop is at most ZOOM_MAX_SHARE of the side, so objects cover more of the view
            assert fg_zoom > fg_whole
            # labels stay consistent: a part pixel lies on an object of the scene, in its category
            on_part = zoomed.part[i] > 0
            assert bool((zoomed.inst[i][on_part] >= 0).all())
            owners = zoomed.inst[i][zoomed.inst[i] >= 0].unique()
            cats = zoomed.categories[i][owners] + 1
            for o, c in zip(owners.tolist(), cats.tolist(), strict=True):
                assert bool((zoomed.cat[i][zoomed.inst[i] == o] == c).all())
        else:
            assert torch.equal(zoomed.part[i], whole.part[i]) and fg_whole > 0
    assert ZOOM_MAX_SHARE < 1
    # the same scenes and choices every time
    again = render_batch(0, 4000, 16, 128, zoom=1.0)
    assert torch.equal(again.images, zoomed.images) and torch.equal(again.inst, zoomed.inst)
