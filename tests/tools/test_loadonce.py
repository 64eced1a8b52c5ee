"""LoadOnce: one load per device and checkpoint file version, the loader's error when it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mereo.checkpoints
from mereo.errors import CheckpointError
from mereo.tools.loadonce import LoadOnce


def test_loads_once_per_device_and_again_when_the_file_changes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mereo.checkpoints, "CHECKPOINT_DIR", tmp_path)
    (tmp_path / "toy.safetensors").write_bytes(b"v1")
    calls: list[str] = []

    def load(device: str) -> object:
        calls.append(device)
        return object()

    shared = LoadOnce("toy", load)
    a = shared.get("cpu")
    assert shared.get("cpu") is a and calls == ["cpu"]
    assert shared.get("cuda") is not a and calls == ["cpu", "cuda"]
    (tmp_path / "toy.safetensors").write_bytes(b"v2 is longer")
    os.utime(tmp_path / "toy.safetensors", ns=(1, 1))
    assert shared.get("cpu") is not a and calls == ["cpu", "cuda", "cpu"]


def test_a_missing_checkpoint_raises_the_loaders_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mereo.checkpoints, "CHECKPOINT_DIR", tmp_path)

    def load(device: str) -> object:
        raise CheckpointError("toy.safetensors is missing; train it first.")

    with pytest.raises(CheckpointError, match="train it first"):
        LoadOnce("toy", load).get()
