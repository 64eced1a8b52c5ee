"""`mereo graph` through the top-level dispatcher."""

from __future__ import annotations

import json

from mereo.cli import main


def test_graph_prints_parts_shared_and_unique_and_writes_files(tmp_path, capsys):
    png, js = tmp_path / "g.png", tmp_path / "g.json"
    assert main(["graph", "chair", "stools", "--out", str(png), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "chair  (is a: seating, furniture)" in out
    assert "shared by chair and stool: " in out
    shared = next(line for line in out.splitlines() if line.startswith("shared by"))
    assert "leg" in shared and "seat" in shared and "apron" not in shared
    assert next(line for line in out.splitlines() if line.startswith("only chair:")).count("apron") == 1
    leg_line = next(line for line in out.splitlines() if line.strip().startswith("leg "))
    assert "ADE20K-Part234" in leg_line and "PACO-LVIS" in leg_line
    assert png.stat().st_size > 5_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(js.read_text())
    assert "object:chair" in {n["id"] for n in data["nodes"]}


def test_graph_source_filter(tmp_path, capsys):
    assert main(["graph", "chair", "stool", "--source", "PACO-LVIS", "--no-png"]) == 0
    out = capsys.readouterr().out
    assert "only stool: footrest, step" in out
    assert "shared by chair and stool: leg, seat" in out
    assert main(["graph", "chair", "--source", "Nope", "--no-png"]) == 1
    assert "unknown taxonomy source" in capsys.readouterr().err


def test_graph_unknown_object_is_a_clear_error(capsys):
    assert main(["graph", "chiar", "stool", "--no-png"]) == 1
    err = capsys.readouterr().err
    assert "unknown object 'chiar'" in err and "Did you mean: chair" in err
    assert "Traceback" not in err


def test_graph_list_and_usage(capsys):
    assert main(["graph", "--list"]) == 0
    out = capsys.readouterr().out
    assert "PartImageNet" in out and "  chair:" in out
    assert main(["graph"]) == 2
