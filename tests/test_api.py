"""The public API: names exported by ``mereo``, configs, backend listing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mereo
from mereo import MereoConfig, load_config
from mereo.config import DEFAULT_BACKENDS, make_config
from mereo.errors import ValidationError


def test_public_names() -> None:
    from mereo import Answer, PartAgent, Step

    assert PartAgent.__name__ == "PartAgent" and Answer.__name__ == "Answer" and Step.__name__ == "Step"
    for name in ("ask", "stream", "choose", "register_gold", "from_config"):
        assert callable(getattr(PartAgent, name))
    with pytest.raises(AttributeError):
        mereo.NotAThing  # noqa: B018


def test_default_config_names_the_trained_backends() -> None:
    cfg = MereoConfig()
    assert cfg.backends() == DEFAULT_BACKENDS
    assert cfg.lmm == "offline" and cfg.segment == "synthparts-cnn" and cfg.correspond == "synthparts-cnn"


def test_config_files_and_overrides(tmp_path: Path) -> None:
    y = tmp_path / "cfg.yaml"
    y.write_text("segment: oracle\nlmm: openai:gpt-4o-mini\nmatch_threshold: 0.7\n")
    cfg = load_config(y)
    assert (cfg.segment, cfg.lmm, cfg.match_threshold, cfg.coseg) == (
        "oracle",
        "openai:gpt-4o-mini",
        0.7,
        "synthparts-cnn",
    )
    j = tmp_path / "cfg.json"
    j.write_text(json.dumps({"recognize": "oracle"}))
    assert make_config(load_config(j), segment="oracle").backends()["recognize"] == "oracle"
    (tmp_path / "bad.yaml").write_text("segmnet: oracle\n")
    with pytest.raises(ValidationError, match="segmnet"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValidationError, match="mapping"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(ValidationError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ValidationError, match="invalid"):
        make_config(None, match_threshold=5)


def test_from_config_builds_an_agent(tmp_path: Path) -> None:
    from mereo import PartAgent

    y = tmp_path / "cfg.yaml"
    y.write_text("segment: oracle\ncoseg: oracle\ncorrespond: none\nrecognize: oracle\n")
    agent = PartAgent.from_config(y, coseg="none")
    assert agent.config.segment == "oracle" and agent.tools.correspond is None and agent.tools.coseg is None
    assert agent.tool_ctx.cache is agent.cache  # one feature cache for all tools of the agent


def test_list_backends_covers_every_family() -> None:
    listing = mereo.list_backends()
    assert set(listing) == {"segment", "coseg", "correspond", "recognize", "lmm"}
    assert all("oracle" in listing[f] for f in ("segment", "coseg", "correspond", "recognize"))
    assert mereo.list_backends("lmm") == ["offline", "openai", "transformers"]
