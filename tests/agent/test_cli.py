"""``mereo demo``, ``mereo ask`` and ``mereo bench`` through the CLI dispatcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from mereo.cli import main


def test_demo_with_oracle_tools_writes_pictures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--oracle", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "answers match the gold labels exactly" in text
    folders = sorted(p.name for p in out.iterdir())
    assert len(folders) >= 8 and any("common_parts" in f for f in folders)
    assert (out / folders[0] / "image1.png").exists() and (out / folders[0] / "trace.html").exists()


def test_ask_reports_bad_input_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "ask",
            "Which parts do the chair and the stool share?",
            "--segment",
            "oracle",
            "--coseg",
            "oracle",
            "--correspond",
            "oracle",
            "--recognize",
            "oracle",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 1
    assert "no images" in capsys.readouterr().err
    code = main(["ask", "q?", "--image", str(tmp_path / "nope.png"), "--segment", "nonexistent"])
    assert code == 1 and "unknown segment backend" in capsys.readouterr().err


def test_bench_prints_seconds_per_question(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--oracle", "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "two-image question after the first: median" in out
