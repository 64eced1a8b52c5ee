"""``mereo train coseg`` on a tiny budget writes a checkpoint that the backend loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mereo.tools.base import COSEG_TASKS
from mereo.tools.coseg.calico import load_model
from mereo.tools.coseg.training import train


@pytest.mark.slow
def test_tiny_training_run_writes_a_loadable_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_args
) -> None:
    monkeypatch.setenv("MEREO_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "ckpt"
    args = cli_args(
        n_train=24,
        n_val=2,
        val_scenes=16,
        epochs=2,
        steps_per_epoch=2,
        batch=2,
        dim=32,
        out=out,
        allow_random_encoders=True,
        threads=1,
    )
    assert train.main(args) == 0
    manifest = json.loads((out / "calico-small.json").read_text())
    assert manifest["architecture"] == "calico-small" and manifest["config"]["dim"] == 32
    assert set(manifest["encoders"]) == {"clip-small", "dinov2-small"}
    assert len(manifest["metrics"]["history"]) == 2 and "mIoU" in manifest["metrics"]["val"]
    assert manifest["command"].startswith("mereo train coseg --n-train 24")
    model, _ = load_model(out)
    assert model.config.dim == 32
    # answer thresholds are calibrated per task on validation
    chosen = manifest["inference"]["task_thresholds"]
    assert set(chosen) == set(COSEG_TASKS) and all(v in train.THRESHOLDS for v in chosen.values())
    # --tune-only re-calibrates them and leaves the weights alone
    (out / "calico-small.json").write_text(json.dumps({**manifest, "inference": {"threshold": 0.5}}))
    assert train.main(["--tune-only", "--out", str(out), "--n-val", "2", "--val-scenes", "16"]) == 0
    again = json.loads((out / "calico-small.json").read_text())
    assert again["inference"]["task_thresholds"] == chosen and again["sha256"] == manifest["sha256"]
    assert "mIoU" in again["metrics"]["val_task_thresholds"]
    # the token cache is reused by a second run
    cached = sorted(p.name for p in (tmp_path / "data").glob("coseg_tokens_*"))
    assert len(cached) == 4  # train and val, one file per encoder
