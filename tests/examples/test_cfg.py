"""``examples/cfg.yaml``, the documented config format, loads and lists every option."""

from __future__ import annotations

from pathlib import Path

import yaml

from mereo.config import MereoConfig, load_config

CFG = Path(__file__).resolve().parents[2] / "examples" / "cfg.yaml"


def test_example_config_loads_and_documents_every_option() -> None:
    cfg = load_config(CFG)
    assert cfg == MereoConfig()  # it spells out the defaults
    keys = set(yaml.safe_load(CFG.read_text()))
    assert keys == set(MereoConfig.model_fields), keys ^ set(MereoConfig.model_fields)
