"""Checkpoint manifests: the sha256 is required, and every malformed manifest is a CheckpointError
naming the file and the fix (issue 14, item 5)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from mereo.checkpoints import CHECKPOINT_DIR, load_checkpoint, save_checkpoint
from mereo.errors import CheckpointError


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    save_checkpoint("tiny", {"w": torch.arange(64, dtype=torch.float32)}, {"config": {"n": 64}}, tmp_path)
    return tmp_path


def _edit(path: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    m = json.loads(path.read_text())
    fn(m)
    path.write_text(json.dumps(m))


def _flip_a_weight_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("digest", [None, "", "  "])
def test_manifest_without_sha256_does_not_skip_the_check(tiny: Path, digest: str | None) -> None:
    _flip_a_weight_byte(tiny / "tiny.safetensors")

    def drop(m: dict[str, Any]) -> None:
        if digest is None:
            del m["sha256"]
        else:
            m["sha256"] = digest

    _edit(tiny / "tiny.json", drop)
    with pytest.raises(CheckpointError, match="sha256") as err:
        load_checkpoint("tiny", tiny)
    assert str(tiny / "tiny.json") in str(err.value)


@pytest.mark.parametrize(
    "text",
    ["", "   \n", '{"name": "tiny", "sha2', "[1, 2, 3]", '"a string"', "null", '{"sha256": 5}'],
    ids=["empty", "blank", "truncated", "list", "string", "null", "number-digest"],
)
def test_malformed_manifest_is_a_checkpoint_error(tiny: Path, text: str) -> None:
    (tiny / "tiny.json").write_text(text)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint("tiny", tiny)
    msg = str(err.value)
    assert str(tiny / "tiny.json") in msg
    assert "retrain" in msg or "restore" in msg or "reinstall" in msg.lower()


def test_a_good_manifest_still_loads(tiny: Path) -> None:
    state, manifest = load_checkpoint("tiny", tiny)
    assert torch.equal(state["w"], torch.arange(64, dtype=torch.float32))
    assert manifest["config"] == {"n": 64}


def _copy(name: str, dst: Path) -> Path:
    for ext in (".safetensors", ".json"):
        shutil.copy(CHECKPOINT_DIR / f"{name}{ext}", dst / f"{name}{ext}")
    return dst / f"{name}.json"


def _loaders() -> dict[str, tuple[Callable[[Path], Any], str, Any, Any]]:
    """checkpoint -> (load from a folder, config key, a value that does not fit, a wrong type)."""
    from mereo.tools.correspond.encoder import load_small as load_dino
    from mereo.tools.coseg.calico import load_model
    from mereo.tools.recognize.model import load_small as load_clip
    from mereo.tools.segment.plum import load_plum

    return {
        "clip-small": (lambda d: load_clip("cpu", d), "embed_dim", 64, "128"),
        "dinov2-small": (lambda d: load_dino("cpu", d), "hidden_size", 96, "wide"),
        "calico-small": (lambda d: load_model(d), "dim", 32, "64"),
        "plum-small": (lambda d: load_plum(str(d)), "embed_dim", 32, "64"),
    }


@pytest.mark.parametrize("name", ["clip-small", "dinov2-small", "calico-small", "plum-small"])
@pytest.mark.parametrize("case", ["does-not-fit", "wrong-type", "not-a-dict"])
def test_config_that_does_not_fit_the_weights(tmp_path: Path, name: str, case: str) -> None:
    load, key, other, wrong = _loaders()[name]
    meta = _copy(name, tmp_path)

    def change(m: dict[str, Any]) -> None:
        if case == "not-a-dict":
            m["config"] = [1, 2]
        else:
            m["config"][key] = other if case == "does-not-fit" else wrong

    _edit(meta, change)
    with pytest.raises(CheckpointError) as err:
        load(tmp_path)
    msg = str(err.value)
    assert str(meta) in msg, msg
    assert "retrain" in msg or "restore" in msg, msg
