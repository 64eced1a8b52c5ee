"""Ablation grids: parsing, expansion, and a tiny grid run end to end (oracle tools, blind baseline)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mereo.config import DEFAULT_BACKENDS
from mereo.errors import QuestionError
from mereo.evals import ablate
from mereo.evals.suites import ORACLE_BACKENDS


def test_parse_grid_and_errors():
    grid = ablate.parse_grid(["segment=plum-small,oracle", "correspond=dinov2-small, none"])
    assert grid == {"segment": ["plum-small", "oracle"], "correspond": ["dinov2-small", "none"]}
    with pytest.raises(QuestionError):
        ablate.parse_grid(["segmentation=oracle"])
    with pytest.raises(QuestionError):
        ablate.parse_grid(["segment="])


def test_expand_product_and_one_at_a_time():
    grid = {"segment": ["synthparts-cnn", "oracle"], "coseg": ["synthparts-cnn", "per-image"]}
    prod = ablate.expand(grid)
    # 4 combinations (one of them the default) + oracle + blind
    assert list(prod)[0] == "default" and len(prod) == 4 + 2
    assert prod["segment=oracle,coseg=per-image"] == {
        **DEFAULT_BACKENDS,
        "segment": "oracle",
        "coseg": "per-image",
    }
    assert prod["oracle"] == ORACLE_BACKENDS and prod["blind"]["lmm"] == "blind"
    one = ablate.expand(grid, mode="one-at-a-time", baselines=False)
    assert sorted(one) == ["coseg=per-image", "default", "segment=oracle"]
    assert ablate.slug("segment=oracle,coseg=per-image") == "segment-oracle__coseg-per-image"


@pytest.mark.slow
def test_tiny_grid_on_the_partonomy_core_fixture(tmp_path: Path, real_format: Path):
    """Loader + runner + grid end to end on the hand-written Partonomy-Core file."""
    out = tmp_path / "abl"
    code = ablate.main(
        [
            "partonomy-core",
            str(real_format / "partonomy_core_mini.json"),
            "--base",
            "oracle",
            "--grid",
            "correspond=oracle,none",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    rows = list(csv.DictReader((out / "ablation.csv").open()))
    overall = {r["configuration"]: r for r in rows if r["group"] == "all"}
    assert set(overall) == {"oracle", "correspond=none", "blind"}
    # oracle tools reproduce the gold answers; blind answers with every taxonomy part and no masks
    assert float(overall["oracle"]["exact_set"]) == 1.0
    assert float(overall["oracle"]["giou"]) == 1.0
    assert float(overall["blind"]["giou"]) == 0.0
    assert float(overall["blind"]["answer_f1"]) < float(overall["oracle"]["answer_f1"])
    md = (out / "ablation.md").read_text()
    assert "| oracle |" in md and "## suite:partonomy" in md
    assert (out / "plots" / "answer_f1.png").stat().st_size > 1000
    assert (out / "oracle" / "partonomy-core.jsonl").exists() and (out / "blind" / "run.json").exists()
