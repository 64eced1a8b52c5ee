"""SynthParts exports, the loaders reading them back, the CLI, and the colour check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mereo.data.datasets import load_coco_parts, load_items, load_mixedparts, load_partonomy, load_synthparts
from mereo.data.synthparts import cli, generate_scenes
from mereo.data.synthparts.colourcheck import colour_check
from mereo.data.synthparts.questions import make_questions
from mereo.types import ImageRef

N, SIZE = 10, 64


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    assert (
        cli.main(
            [
                "synthparts",
                "--split",
                "val",
                "--n",
                str(N),
                "--seed",
                "4",
                "--size",
                str(SIZE),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def _key(item):
    return (
        item.question_type,
        item.question,
        item.gold_labels,
        item.gold_plan,
        sorted((m.label, m.object, m.kind, m.image_index, m.mask.counts) for m in item.gold_masks),
    )


def test_export_files_and_images(exported):
    scenes = list(generate_scenes("val", N, 4, SIZE))
    coco = json.loads((exported / "coco_parts.json").read_text())
    assert len(coco["images"]) == N
    names = {c["name"] for c in coco["categories"]}
    assert "chair:leg" in names and "chair" in names
    assert all(a["area"] > 0 for a in coco["annotations"])
    for img, scene in zip(coco["images"], scenes, strict=True):
        assert not Path(img["file_name"]).is_absolute()
        assert np.array_equal(ImageRef(exported / img["file_name"]).array, scene.image)
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["counts"]["images"] == N


def test_loaders_read_exports_back_to_the_same_items(exported):
    scenes = list(generate_scenes("val", N, 4, SIZE))
    paths = [f"images/{s.uid}.png" for s in scenes]
    ref = {s: make_questions(scenes, s, seed=4, paths=paths) for s in ("partonomy", "pairs", "multistep")}
    got = {
        "partonomy": load_partonomy(exported / "partonomy.json"),
        "pairs": load_mixedparts(exported / "mixedparts.json", exported / "coco_parts.json"),
        "multistep": load_items(exported / "multistep.jsonl"),
    }
    for suite, items in got.items():
        assert [_key(i) for i in items] == [_key(i) for i in ref[suite]], suite
        for it in items:
            assert all(Path(im.path).is_file() for im in it.images)
    gold = load_coco_parts(exported / "coco_parts.json")
    for g, s in zip(gold, scenes, strict=True):
        assert g.objects() == sorted({o.category for o in s.objects})
        for o in s.objects:
            assert g.parts_of(o.category) == sorted(
                {p for x in s.objects if x.category == o.category for p in x.visible_parts()}
            )


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        cli.main(["synthparts", "--split", "test", "--n", "4", "--size", "48", "--out", str(tmp_path / name)])
    for f in ("coco_parts.json", "partonomy.json", "mixedparts.json", "multistep.jsonl"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    for png in (tmp_path / "a" / "images").iterdir():
        assert png.read_bytes() == (tmp_path / "b" / "images" / png.name).read_bytes()


def test_stats_and_bench_commands(exported, capsys):
    assert cli.main(["stats", str(exported)]) == 0
    out = capsys.readouterr().out
    assert f"images: {N}" in out and "per question type" in out
    assert (exported / "datasheet.png").stat().st_size > 0
    assert cli.bench_main(["--n", "8", "--workers", "1", "--size", "48"]) == 0
    assert "images/s" in capsys.readouterr().out
    assert cli.main(["nonsense"]) == 2


def test_load_synthparts_in_memory(tmp_path):
    items = load_synthparts("novel", 6, seed=1, suite="partonomy", size=SIZE, cache_dir=tmp_path)
    scenes = list(generate_scenes("novel", 6, 1, SIZE))
    assert items and all(Path(im.path).is_absolute() for it in items for im in it.images)
    by_uid = {s.uid: s for s in scenes}
    for it in items:
        assert np.array_equal(ImageRef(it.images[0].path).array, by_uid[it.images[0].image_id].image)


def test_colour_does_not_give_parts_away():
    res = colour_check(n_train=40, n_test=20, size=SIZE)
    assert res.accuracy <= res.majority_baseline + 0.05
    assert res.balanced_accuracy < 3 * res.chance
    assert "balanced accuracy" in res.summary()


def test_load_synthparts_replaces_stale_cached_images(tmp_path):
    first = load_synthparts("val", 3, seed=0, suite="partonomy", size=48, cache_dir=tmp_path)
    path = Path(first[0].images[0].path)
    Image.new("RGB", (48, 48), (1, 2, 3)).save(path)  # a stale file from another generator version
    again = load_synthparts("val", 3, seed=0, suite="partonomy", size=48, cache_dir=tmp_path)
    scene = next(generate_scenes("val", 1, 0, 48, start=int(again[0].images[0].image_id[-6:])))
    assert np.array_equal(ImageRef(again[0].images[0].path).array, scene.image)
