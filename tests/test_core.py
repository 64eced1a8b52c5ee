"""Feature cache, checkpoints (sha256 check), and the CLI dispatcher."""

from __future__ import annotations

import json

import pytest
import torch

from mereo.cache import FeatureCache
from mereo.checkpoints import load_checkpoint, load_safetensors, save_checkpoint, torch_load
from mereo.cli import main
from mereo.errors import CheckpointError


def test_cache_hits_and_lru() -> None:
    c = FeatureCache(max_items=2)
    calls = []
    v, hit = c.get_or_compute("seg", "a", lambda: calls.append(1) or 1)
    assert (v, hit) == (1, False)
    v, hit = c.get_or_compute("seg", "a", lambda: calls.append(1) or 2)
    assert (v, hit) == (1, True) and len(calls) == 1
    c.get_or_compute("other", "a", lambda: 3)  # another namespace is another entry
    c.get_or_compute("seg", "b", lambda: 4)
    assert ("seg", "a") not in c and len(c) == 2
    assert (c.hits, c.misses) == (1, 3)
    c.put("seg", "c", 5)  # a value computed elsewhere: later reads hit it, the oldest entry goes
    assert c.get_or_compute("seg", "c", lambda: 6) == (5, True) and ("other", "a") not in c


def test_checkpoint_round_trip_and_corruption(tmp_path) -> None:
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    man = save_checkpoint("toy", state, {"architecture": "toy", "seed": 0}, directory=tmp_path)
    assert man["size_bytes"] > 0 and len(man["sha256"]) == 64
    loaded, meta = load_checkpoint("toy", directory=tmp_path)
    assert torch.equal(loaded["w"], state["w"]) and meta["seed"] == 0
    (tmp_path / "toy.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint("toy", directory=tmp_path)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_safetensors(tmp_path / "toy.safetensors")
    with pytest.raises(CheckpointError, match="no manifest"):
        load_checkpoint("absent", directory=tmp_path)


def test_torch_load_is_weights_only(tmp_path) -> None:
    p = tmp_path / "sd.pth"
    torch.save({"a": torch.ones(2)}, p)
    assert torch.equal(torch_load(p)["a"], torch.ones(2))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, bad)
    with pytest.raises(CheckpointError, match="weights_only"):
        torch_load(bad)
    with pytest.raises(CheckpointError, match="not found"):
        torch_load(tmp_path / "missing.pth")


def test_cli_usage_and_unknown(capsys) -> None:
    assert main([]) == 0
    assert "commands:" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err
    assert main(["train", "nonsense"]) == 2
    assert "unknown train target" in capsys.readouterr().err
    json.dumps({})  # keep json imported for future manifest checks


def test_train_command_leaves_out_where_the_checkpoint_is_written() -> None:
    from mereo.checkpoints import train_command

    assert train_command("coseg", ["--threads", "1", "--out", "runs/x", "--max-minutes", "10"]) == (
        "mereo train coseg --threads 1 --max-minutes 10"
    )
    assert train_command("recognize", ["--out-dir=runs/clip"]) == "mereo train recognize"
    assert train_command("correspond", None) == "mereo train correspond"
    assert train_command("segment", ["--name", "a b"]) == "mereo train segment --name 'a b'"


def test_committed_manifests_record_reproducing_commands() -> None:
    from mereo.checkpoints import read_manifest

    for name in ("plum-small", "dinov2-small", "clip-small", "calico-small"):
        command = read_manifest(name)["command"]
        assert command.startswith("mereo train ") and "--out" not in command and "runs/" not in command
