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
