"""Gold answers of the three co-segmentation tasks (Calico's definitions)."""

from __future__ import annotations

import numpy as np
import pytest

from mereo.tools.coseg.pairs import ObjectGold, main_object, objects_from_partmasks, task_answer
from mereo.types import Mask, PartMask


def _box(y0: int, y1: int, x0: int, x1: int, size: int = 16) -> np.ndarray:
    m = np.zeros((size, size), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def _chair() -> ObjectGold:
    return ObjectGold(
        "chair",
        _box(2, 14, 2, 10),
        {"seat": _box(8, 10, 2, 10), "back": _box(2, 8, 2, 4), "leg": _box(10, 14, 2, 10)},
    )


def _stool() -> ObjectGold:
    return ObjectGold("stool", _box(4, 14, 4, 12), {"seat": _box(4, 6, 4, 12), "leg": _box(6, 14, 4, 12)})


def test_common_objects_needs_the_name_in_both_images() -> None:
    cat = ObjectGold("cat", _box(0, 4, 0, 4))
    items = task_answer(
        [_chair(), cat], [_stool(), ObjectGold("cat", _box(10, 16, 10, 16))], "common_objects"
    )
    assert [(g.image_index, g.label, g.kind) for g in items] == [(0, "cat", "object"), (1, "cat", "object")]
    assert items[1].mask.sum() == 36


def test_common_and_unique_parts_partition_the_visible_parts() -> None:
    common = task_answer([_chair()], [_stool()], "common_parts")
    unique = task_answer([_chair()], [_stool()], "unique_parts")
    assert {(g.image_index, g.label) for g in common} == {(0, "leg"), (0, "seat"), (1, "leg"), (1, "seat")}
    assert [(g.image_index, g.label, g.object) for g in unique] == [(0, "back", "chair")]


def test_taxonomy_parts_count_as_present_even_when_hidden() -> None:
    # the stool's drawing shows no leg, but the knowledge base says stools have legs
    stool = ObjectGold("stool", _box(4, 6, 4, 12), {"seat": _box(4, 6, 4, 12)})
    kb = {"stool": ["leg", "seat"], "chair": ["back", "leg", "seat"]}
    unique = task_answer([_chair()], [stool], "unique_parts", kb_parts=lambda n: kb[n])
    assert [g.label for g in unique] == ["back"]
    visible_only = task_answer([_chair()], [stool], "unique_parts")
    assert [g.label for g in visible_only] == ["back", "leg"]


def test_part_tasks_use_the_largest_object() -> None:
    small = ObjectGold("cup", _box(0, 2, 0, 2), {"handle": _box(0, 1, 0, 1)})
    assert main_object([small, _chair()]).category == "chair"
    unique = task_answer([small, _chair()], [_stool()], "unique_parts")
    assert [g.label for g in unique] == ["back"]
    assert task_answer([], [_stool()], "common_parts") == []


@pytest.mark.parametrize("task", ["common_objects", "common_parts", "unique_parts"])
def test_partmasks_round_trip(task: str) -> None:
    chair = _chair()
    gold = [PartMask(label="chair", object="chair", mask=Mask.from_numpy(chair.mask), kind="object")]
    gold += [PartMask(label=k, object="chair", mask=Mask.from_numpy(v)) for k, v in chair.parts.items()]
    objs = objects_from_partmasks(gold)
    assert len(objs) == 1 and objs[0].category == "chair" and set(objs[0].parts) == set(chair.parts)
    a = task_answer(objs, [_stool()], task)  # type: ignore[arg-type]
    b = task_answer([chair], [_stool()], task)  # type: ignore[arg-type]
    assert [(g.image_index, g.label) for g in a] == [(g.image_index, g.label) for g in b]
    assert all(np.array_equal(x.mask, y.mask) for x, y in zip(a, b, strict=True))
