"""The README's Python snippets run as written, on SynthParts images (issue 14, item 10).

Each fenced ``python`` block is run in order in one namespace, with ``a.png``/``b.png``/``c.png``
replaced by SynthParts renderings (a chair, a stool, an airplane) and the paths it writes moved
to a temporary folder. A block that needs a hosted LMM or the user's own weights says so with a
``# readme-test: skip (...)`` comment and is only compiled.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from mereo.data.synthparts import generate_scenes

ROOT = Path(__file__).resolve().parents[1]
SKIP = "# readme-test: skip"
#: file in the README -> index of a one-object SynthParts test scene (seed 0) standing in for it
IMAGES = {"a.png": 60, "b.png": 71, "c.png": 4}  # chair, stool, airplane


def readme_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)


def test_readme_has_python_blocks_and_marks_skips_with_a_reason() -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 2
    for b in blocks:
        if SKIP in b:
            assert re.search(re.escape(SKIP) + r" \(.+\)", b), "say why the block is skipped"
    assert sum(SKIP not in b for b in blocks) >= 1


def _write_images(tmp: Path) -> dict[str, str]:
    paths = {}
    for name, index in IMAGES.items():
        scene = next(iter(generate_scenes("test", 1, seed=0, start=index)))
        assert len(scene.objects) == 1
        path = tmp / name
        Image.fromarray(scene.image).save(path)
        paths[name] = str(path)
    return paths


def test_readme_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _write_images(tmp_path)
    monkeypatch.chdir(tmp_path)  # "out/" and other relative outputs land here
    namespace: dict[str, object] = {"__name__": "readme"}
    ran = 0
    for k, block in enumerate(readme_blocks()):
        code = block
        for name, path in paths.items():
            code = code.replace(f'"{name}"', repr(path))
        code = code.replace('"examples/cfg.yaml"', repr(str(ROOT / "examples" / "cfg.yaml")))
        compiled = compile(code, f"README.md python block {k + 1}", "exec")
        if SKIP in block:
            continue
        exec(compiled, namespace)  # noqa: S102 - our own README, the point of the test
        ran += 1
    assert ran >= 1
    assert (tmp_path / "out").is_dir() and any((tmp_path / "out").iterdir())
    ans, more = namespace["ans"], namespace["more"]
    assert ans.labels is not None and more.plan is not None  # type: ignore[attr-defined]


def test_opening_pictures_show_the_default_and_label_the_oracle_as_the_upper_bound() -> None:
    text = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[([^\]]*)\]\((docs/img/[^)]+)\)", text)
    opening = [(alt, path) for alt, path in pictures if "ans.save()" in alt]
    assert opening, "the README shows ans.save() pictures"
    for _, path in opening:
        assert (ROOT / path).is_file(), path
    first_alt, first_path = opening[0]
    assert "default" in first_alt and "oracle" not in first_path  # what a user gets comes first
    oracle = [(alt, path) for alt, path in opening if "oracle" in path or "oracle" in alt]
    assert oracle and all("upper bound" in alt for alt, _ in oracle)
