"""Tiny hand-written QA items (with PNG images on disk) shared by the eval runner tests."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mereo.data.items import GoldImage, QAItem
from mereo.knowledge import PartHierarchy
from mereo.types import Mask, PartMask

#: The plan expression of "which parts do the chair (image 1) and the stool (image 2) share".
PAIR_EXPR: dict[str, Any] = {
    "op": "intersect",
    "args": [
        {"op": "parts", "object": "chair", "image": 0},
        {"op": "parts", "object": "stool", "image": 1},
    ],
}


def _mask(rows: slice) -> Mask:
    a = np.zeros((16, 16), dtype=bool)
    a[rows] = True
    return Mask.from_numpy(a)


def make_items(tmp: Path) -> list[QAItem]:
    """Two one-image Partonomy-style items (identification, intersection) and one image pair.

    The 16 x 16 images (random pixels) are written into ``tmp`` as ``a.png`` and ``b.png``.
    """
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp / name)
    kb = PartHierarchy.default()
    chair, stool = kb.parts_of("chair"), kb.parts_of("stool")
    img = GoldImage(
        path=str(tmp / "a.png"),
        width=16,
        height=16,
        parts=[
            PartMask(label="seat", object="chair", mask=_mask(slice(0, 4))),
            PartMask(label="leg", object="chair", mask=_mask(slice(8, 16))),
        ],
    )
    ident = QAItem(
        id="p-0",
        suite="partonomy",
        question_type="identification",
        question="What visible parts does the chair in the image have?",
        images=[img],
        answer_choices=["seat and leg", "seat", "arm"],
        answer_types=["correct", "incorrect", "incorrect"],
        answer_parts=[["leg", "seat"], ["seat"], ["arm"]],
        gold_labels=["leg", "seat"],
        gold_masks=img.parts,
        gold_plan={"expr": {"op": "parts", "object": "chair", "image": 0}, "returns": "parts"},
    )
    inter_gold = sorted({"leg", "seat"} & set(stool))
    inter = QAItem(
        id="p-1",
        suite="partonomy",
        question_type="intersection",
        question="What visible parts does the chair have in common with a stool?",
        images=[img],
        gold_labels=inter_gold,
        gold_masks=[p for p in img.parts if p.label in inter_gold],
        gold_plan={
            "expr": {
                "op": "intersect",
                "args": [
                    {"op": "parts", "object": "chair", "image": 0},
                    {"op": "kb_parts", "object": "stool"},
                ],
            },
            "returns": "parts",
        },
    )
    img2 = GoldImage(
        path=str(tmp / "b.png"),
        width=16,
        height=16,
        parts=[PartMask(label="leg", object="stool", mask=_mask(slice(6, 16)))],
    )
    pair = QAItem(
        id="c-0",
        suite="pairs",
        question_type="common_parts",
        question="Which parts do the objects in the two images share?",
        images=[img, img2],
        gold_labels=["leg"],
        gold_masks=[img.parts[1], img2.parts[0].model_copy(update={"image_index": 1})],
        gold_plan={"expr": copy.deepcopy(PAIR_EXPR), "returns": "parts"},
    )
    assert set(chair) >= {"leg", "seat"}
    return [ident, inter, pair]


def numbers(summary: dict[str, dict[str, Any]]) -> str:
    """A run summary without wall times, as comparable text."""
    return json.dumps(
        {g: {k: v for k, v in m.items() if k != "seconds"} for g, m in summary.items()}, sort_keys=True
    )


def kill_midway(cmd: list[str], env: dict[str, str], path: Path, records: int, poll: float = 0.02) -> int:
    """Start ``cmd`` (an eval writing ``path``), SIGKILL its process group once ``path`` holds
    ``records`` lines (or the command ended, or 240 s passed); the records it had written."""
    from mereo.evals.records import read_records

    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists() and path.read_bytes().count(b"\n") >= records:
                break
            time.sleep(poll)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker processes
        proc.wait()
    return len(read_records(path))
