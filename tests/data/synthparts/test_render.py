"""The SynthParts renderer: determinism, split streams, masks consistent with the visible parts."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.data.synthparts import (
    CATEGORIES,
    NOVEL_CATEGORIES,
    PART_LABELS,
    SUPERCATEGORIES,
    TRAIN_CATEGORIES,
    generate_scene,
    generate_scenes,
)
from mereo.data.synthparts.scene import MIN_PART_PIXELS, VISIBLE_FRACTION
from mereo.errors import DatasetError


def test_catalogue_is_rich_enough():
    assert len(CATEGORIES) >= 24 and len(SUPERCATEGORIES) >= 4
    assert set(TRAIN_CATEGORIES).isdisjoint(NOVEL_CATEGORIES) and NOVEL_CATEGORIES
    train_parts = {p for c in TRAIN_CATEGORIES for p in CATEGORIES[c].parts}
    for c in NOVEL_CATEGORIES:  # novel objects are made of known kinds of parts
        assert set(CATEGORIES[c].parts) <= train_parts, c
    # many pairs share some parts and differ in others
    names = list(CATEGORIES)
    mixed = sum(
        1
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if set(CATEGORIES[a].parts) & set(CATEGORIES[b].parts)
        and set(CATEGORIES[a].parts) ^ set(CATEGORIES[b].parts)
    )
    assert mixed >= 150
    assert list(PART_LABELS) == sorted(PART_LABELS)


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_templates_draw_only_declared_parts(name):
    template = CATEGORIES[name]
    drawn: set[str] = set()
    for i in range(60):
        drawn |= {label for label, _ in template.build(np.random.default_rng(i))}
    assert drawn == set(template.parts)


def test_same_seed_same_bytes_and_single_scene_regeneration():
    a = list(generate_scenes("train", 6, seed=3, size=64))
    b = list(generate_scenes("train", 6, seed=3, size=64))
    for x, y in zip(a, b, strict=True):
        assert x.image.tobytes() == y.image.tobytes()
        assert [o.category for o in x.objects] == [o.category for o in y.objects]
        for ox, oy in zip(x.objects, y.objects, strict=True):
            assert all(np.array_equal(p.mask, q.mask) for p, q in zip(ox.parts, oy.parts, strict=True))
    alone = generate_scene("train", 3, 4, size=64)
    assert alone.image.tobytes() == a[4].image.tobytes()
    shard = list(generate_scenes("train", 2, seed=3, size=64, start=4))
    assert shard[0].image.tobytes() == a[4].image.tobytes()


def test_splits_and_seeds_use_different_streams():
    images = {s: generate_scene(s, 0, 0, size=64).image.tobytes() for s in ("train", "val", "test", "novel")}
    assert len(set(images.values())) == 4
    assert generate_scene("train", 1, 0, size=64).image.tobytes() != images["train"]


def test_novel_split_holds_novel_objects_and_train_does_not():
    for scene in generate_scenes("novel", 10, size=64):
        assert any(o.category in NOVEL_CATEGORIES for o in scene.objects)
    for scene in generate_scenes("val", 10, size=64):
        assert all(o.category in TRAIN_CATEGORIES for o in scene.objects)


def test_masks_match_visible_parts():
    for scene in generate_scenes("test", 12, seed=1, size=96):
        assert scene.image.shape == (96, 96, 3) and scene.image.dtype == np.uint8
        assert 1 <= len(scene.objects) <= 3
        claimed = np.zeros((96, 96), dtype=int)
        for obj in scene.objects:
            assert obj.mask.any()
            assert set(obj.visible_parts()) <= set(CATEGORIES[obj.category].parts)
            assert obj.visible_parts(), "every kept object has a visible part"
            union = np.zeros_like(obj.mask)
            for p in obj.parts:
                assert p.mask.sum() <= p.full_area
                assert not (p.mask & ~obj.mask).any()
                union |= p.mask
                counted = p.mask.sum() >= MIN_PART_PIXELS and p.visible_fraction >= VISIBLE_FRACTION
                assert p.visible == counted
            assert np.array_equal(union, obj.mask)
            for label in obj.visible_parts():
                assert obj.part_mask(label).any()
            claimed += obj.mask
        assert claimed.max() <= 1, "objects do not overlap in their visible pixels"
        labels = scene.part_label_map(PART_LABELS)
        assert set(np.unique(labels)) - {0} == {
            PART_LABELS.index(p) + 1 for o in scene.objects for p in o.visible_parts()
        }


def test_bad_arguments_raise_dataset_errors():
    with pytest.raises(DatasetError):
        next(generate_scenes("training", 1))
    with pytest.raises(DatasetError):
        generate_scene("train", 0, 0, size=8)


def test_occluded_parts_drop_out_of_the_gold_answers():
    seen = 0
    for scene in generate_scenes("train", 60, seed=0, size=96):
        for obj in scene.objects:
            for p in obj.parts:
                if p.mask.any() and p.visible_fraction < VISIBLE_FRACTION:
                    seen += 1
                    others = [q for q in obj.parts if q.label == p.label and q is not p and q.visible]
                    if not others:
                        assert p.label not in obj.visible_parts()
                    assert not (
                        obj.part_mask(p.label)
                        & p.mask
                        & ~np.logical_or.reduce([q.mask for q in others] or [np.zeros_like(p.mask)])
                    ).any()
    assert seen > 0, "some parts are hidden below the threshold in 60 scenes"


def test_knowledge_base_lists_every_drawable_part():
    import json
    from importlib import resources

    from mereo.knowledge import PartHierarchy

    data = json.loads(resources.files("mereo.knowledge.data").joinpath("synthparts.json").read_text())
    assert data["source"] == "SynthParts"
    listed = {k: tuple(v["parts"]) for k, v in data["objects"].items()}
    assert listed == {k: t.parts for k, t in CATEGORIES.items()}
    kb = PartHierarchy.default()
    for name, template in CATEGORIES.items():
        assert set(template.parts) <= set(kb.parts_of(name)), name
