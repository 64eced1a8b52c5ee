"""Dataset item types shared by every loader, generator, tool eval and the eval runner.

Whatever the source (SynthParts export, real Partonomy-Core, real MixedParts, COCO parts), a
loader returns these types, so the same evals run on all of them.

Set expressions (``gold_plan["expr"]``, and the agent's ``Plan.expr``) are nested JSON dicts:

- ``{"op": "parts", "object": "chair", "image": 0}``: the visible parts of that object in image 0
  (``"image": null`` when the question does not say which image).
- ``{"op": "kb_parts", "object": "stool"}``: the taxonomy's parts of a named object that is not
  in any image (Partonomy's "... in common with a stool?").
- ``{"op": "intersect" | "union" | "difference" | "symmetric_difference", "args": [expr, ...]}``.
- ``{"op": "part_to_whole", "part": "propeller", "images": [0]}``: the objects that have the part.
- ``{"op": "whole_to_part", "image": 0}``: recognise the (unnamed) object, then its visible parts.
- ``{"op": "common_objects", "images": [0, 1]}``: object labels present in every image.
- ``{"op": "exists" | "count" | "which", ...}``: yes/no, count and which-of-these questions (see
  :mod:`mereo.plan`); their gold answer is ``QAItem.gold_value`` (bool, int) or the labels.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from mereo.types import PartMask

Suite = Literal["partonomy", "pairs", "multistep", "checks"]
QUESTION_TYPES = (
    "identification",
    "intersection",
    "difference",
    "part_to_whole",
    "whole_to_part",  # partonomy
    "common_objects",
    "common_parts",
    "unique_parts",  # pairs (Calico)
    "multistep",
    "exists",
    "count",
    "which",
    "absent",  # checks: yes/no, count, which-of-these, and questions about objects not shown
)


class GoldImage(BaseModel):
    """One annotated image: its file and its gold object and part masks.

    Attributes:
        path: image file, absolute or relative to the dataset file's folder (resolved by loaders).
        width, height: pixels.
        parts: gold masks; ``kind="object"`` for whole objects, ``kind="part"`` for parts (one
            PartMask per part label per object: instances of one label are unioned).
        image_id: the source's id, when it has one.
    """

    path: str
    width: int
    height: int
    parts: list[PartMask] = Field(default_factory=list)
    image_id: int | str | None = None

    def objects(self) -> list[str]:
        return sorted({p.label for p in self.parts if p.kind == "object"})

    def parts_of(self, obj: str) -> list[str]:
        return sorted({p.label for p in self.parts if p.kind == "part" and p.object == obj})


class QAItem(BaseModel):
    """One question with its gold answer.

    Attributes:
        id: unique within its dataset.
        suite: which benchmark family it belongs to.
        question_type: one of ``QUESTION_TYPES``.
        question: the natural-language question.
        images: the annotated images the question is about, in order (index 0 = "image 1").
        answer_choices / answer_types / answer_parts: multiple choice (Partonomy style), may be empty.
        gold_labels: sorted unique labels of the answer (part names; object names for
            part_to_whole and common_objects).
        gold_masks: the answer's masks with ``image_index`` into ``images``.
        gold_plan: ``{"expr": <set expression>, "returns": "parts" | "objects"}`` when known.
        other_object: the object named but not shown (intersection/difference), when any.
        gold_value: the yes/no (``exists``) or the number (``count``) the question asks for.
        absent_objects: objects the question names in an image that does not show them; the
            right answer says it could not find them (``question_type`` ``"absent"``).
    """

    id: str
    suite: Suite
    question_type: str
    question: str
    images: list[GoldImage]
    answer_choices: list[str] = Field(default_factory=list)
    answer_types: list[str] = Field(default_factory=list)
    answer_parts: list[list[str]] = Field(default_factory=list)
    gold_labels: list[str] = Field(default_factory=list)
    gold_masks: list[PartMask] = Field(default_factory=list)
    gold_plan: dict[str, Any] | None = None
    other_object: str | None = None
    gold_value: bool | int | None = None
    absent_objects: list[str] = Field(default_factory=list)
    source: str = "synthparts"
