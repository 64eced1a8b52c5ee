"""``mereo eval coseg`` end to end with the oracle backend (no trained weights needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mereo.tools.coseg.training import evaluate


@pytest.mark.slow
def test_oracle_scores_perfectly_and_table_has_every_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEREO_DATA_DIR", str(tmp_path))
    out = tmp_path / "res.json"
    code = evaluate.main(
        [
            "--split",
            "val",
            "--pairs",
            "2",
            "--scenes",
            "40",
            "--backends",
            "oracle,nope",
            "--json",
            str(out),
            "--threads",
            "1",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "skipping nope" in printed
    for task in ("common_objects", "common_parts", "unique_parts", "overall"):
        assert f"oracle        {task}" in printed
    res = json.loads(out.read_text())["results"]["oracle"]
    for task in ("common_objects", "common_parts", "unique_parts", "overall"):
        assert res[task]["mIoU"] == pytest.approx(1.0)
        assert res[task]["Recall"] == pytest.approx(1.0)
        assert res[task]["AP50"] == pytest.approx(1.0)
        assert res[task]["S-IoU"] == pytest.approx(1.0)


def test_format_table_prints_percent_and_na() -> None:
    row = {"AP50": 0.5, "mIoU": 0.25, "Recall": float("nan"), "SS": 1.0, "S-IoU": 0.0}
    res = {t: row for t in ("common_objects", "common_parts", "unique_parts", "overall")}
    text = evaluate.format_table({"x": {**res, "seconds_per_pair": 0.5}})
    assert "50.0" in text and "25.0" in text and "n/a" in text and "0.500" in text
