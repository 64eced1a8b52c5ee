"""`mereo report` on a tiny run (oracle tools and the blind baseline on hand-written items)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mereo.errors import DatasetError
from mereo.evals import cli, report, runner
from mereo.evals.records import read_records, records_path
from mereo.evals.suites import parse_backends


@pytest.mark.slow
def test_report_of_a_blind_run(items_file: Path, tmp_path: Path):
    out = tmp_path / "run"
    runner.run_eval(
        "items", path=str(items_file), out=out, backends=parse_backends([], "blind"), progress=False
    )
    assert report.main([str(out), "--worst", "2"]) == 0
    md = (out / "report.md").read_text()
    assert "| all | 3 |" in md and "lmm=blind" in md
    assert md.count("### `") == 2
    assert (out / "plots" / "per_type.png").exists() and (out / "plots" / "distributions.png").exists()
    # the gallery shows the worst items first: every blind answer has gIoU 0, so it picks the
    # lowest answer F1, and each picture has one row (gold | predicted) per image of the item
    recs = read_records(records_path(out, "items"))
    worst = min(recs, key=lambda r: (report.item_score(r), r["index"]))
    pic = Image.open(out / "gallery" / f"{worst['index']:05d}.png")
    assert pic.width >= 2 * 192
    assert f"`{worst['id']}`" in md.split("worst items")[1].split("###")[1]


@pytest.mark.slow
def test_mixedparts_fixture_end_to_end(tmp_path: Path, real_format: Path):
    """Loader + runner + report on the hand-written MixedParts file (blind baseline: no masks)."""

    out = tmp_path / "mp"
    code = cli.main(
        [
            "mixedparts",
            str(real_format / "mixedparts_mini.json"),
            "--images",
            str(real_format / "images"),
            "--preset",
            "blind",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    recs = read_records(records_path(out, "mixedparts"))
    assert recs and all(r["suite"] == "pairs" and len(r["images"]) == 2 for r in recs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["all"]["ap50"] == 0.0 and summary["all"]["giou"] == 0.0
    assert report.main([str(out)]) == 0
    assert "gallery/" in (out / "report.md").read_text()


def test_overlay_colours_the_mask_pixels():
    from mereo.types import Mask, PartMask

    img = np.zeros((8, 8, 3), dtype=np.uint8)
    m = np.zeros((8, 8), dtype=bool)
    m[:4] = True
    part = PartMask(label="seat", mask=Mask.from_numpy(m))
    pic = np.asarray(report.overlay(img, [part], {"seat": (200, 0, 0)}, "t", alpha=1.0))
    # upscaled 24x (8 -> 192 px), pasted 16 px below the top: mask rows red, others black
    assert tuple(pic[16 + 10, 10]) == (200, 0, 0)
    assert tuple(pic[16 + 150, 10]) == (0, 0, 0)


def test_report_errors_on_a_folder_without_records(tmp_path: Path):
    with pytest.raises(DatasetError):
        report.main([str(tmp_path)])
    with pytest.raises(DatasetError):
        report.main([str(tmp_path / "missing")])


def test_reliability_diagram_and_ece_of_confidences(tmp_path: Path) -> None:
    records = [
        {"prediction": {"confidence": 0.9}, "metrics": {"correct": 1.0}},
        {"prediction": {"confidence": 0.9}, "metrics": {"correct": 0.0}},
        {"prediction": {"confidence": 0.1}, "metrics": {"exact_set": 0.0}},
        {"prediction": {}, "metrics": {"exact_set": 1.0}},  # no confidence: left out
    ]
    path, ece = report.reliability_plot(records, tmp_path / "plots" / "reliability.png")
    assert path is not None and path.exists()
    assert ece == pytest.approx((2 * 0.4 + 0.1) / 3)
    assert report.reliability_plot(records[3:], tmp_path / "none.png") == (
        None,
        pytest.approx(float("nan"), nan_ok=True),
    )
