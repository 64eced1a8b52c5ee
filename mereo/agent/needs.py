"""What a validated plan asks of the tools: which images it may use, whether one co-segmentation
call answers it, which images need their objects recognised, and which objects to segment where.

Pure functions of the :class:`~mereo.plan.Plan` (and the agent's settings); the nodes and routers
call them, each once per question.
"""

from __future__ import annotations

from mereo.agent.state import AgentContext
from mereo.errors import QuestionError
from mereo.knowledge import canonical
from mereo.plan import (
    CommonObjectsExpr,
    KbPartsExpr,
    PartsExpr,
    PartToWholeExpr,
    Plan,
    SetOpExpr,
    WholeToPartExpr,
    walk,
)
from mereo.tools.base import CosegTask
from mereo.types import PartMask

#: How many objects to recognise in an image whose objects the plan compares or searches.
MANY_OBJECTS = 5


def check_plan_images(plan: Plan, n_images: int) -> None:
    """The plan must use only the images given, and every image given.

    Raises:
        QuestionError: an image index out of range, or images the question never refers to.
    """
    used = plan.images_used()
    far = [i for i in used if i >= n_images]
    if far:
        raise QuestionError(
            f"the question refers to image {far[0] + 1}, but only {n_images} image(s) were given."
        )
    unplaced = any(isinstance(n, PartsExpr) and n.image is None for n in walk(plan.expr))
    if isinstance(plan.expr, PartToWholeExpr):
        return  # "which object in image 2 has ...": part-to-whole limited to the images it names
    if used and not unplaced and len(used) < n_images:
        raise QuestionError(
            f"the question refers to {len(used)} image(s) but {n_images} were given; pass only the images "
            "it is about, or name each one (e.g. 'the stool in image 2')."
        )


def coseg_task(plan: Plan, ctx: AgentContext) -> CosegTask | None:
    """The co-segmentation task that answers the plan directly, if it is a plain image-pair question
    (common objects; common / unique parts of two named objects only with ``config.coseg_named``)."""
    if not ctx.tools.enabled("coseg") or not ctx.config.use_coseg or len(ctx.images) != 2:
        return None
    e = plan.expr
    if isinstance(e, CommonObjectsExpr) and sorted(e.images) == [0, 1]:
        return "common_objects"
    if (
        isinstance(e, SetOpExpr)
        and len(e.args) == 2
        and all(isinstance(a, PartsExpr) for a in e.args)
        and sorted(a.image if a.image is not None else -1 for a in e.args if isinstance(a, PartsExpr))
        == [0, 1]
    ):
        if not ctx.config.coseg_named:
            return None  # segment each named object's parts and let the set algebra answer
        tasks: dict[str, CosegTask] = {
            "intersect": "common_parts",
            "difference": "unique_parts",
            "symmetric_difference": "unique_parts",
        }
        return tasks.get(e.op)
    return None


def recognition_images(plan: Plan, task: CosegTask | None) -> dict[int, int]:
    """Image index -> how many objects to recognise there (``task``: the plan's co-segmentation
    task, which finds the common objects itself)."""
    need: dict[int, int] = {}
    for n in walk(plan.expr):
        if isinstance(n, WholeToPartExpr):
            need[n.image] = max(need.get(n.image, 0), 1)
        elif isinstance(n, PartToWholeExpr):
            need.update({i: MANY_OBJECTS for i in n.images})
        elif isinstance(n, CommonObjectsExpr) and task != "common_objects":
            need.update({i: MANY_OBJECTS for i in n.images})
    for o in plan.objects:
        if o.name is None and o.image is not None:
            need.setdefault(o.image, 1)
    return need


def top_objects(recognized: list[PartMask], image: int, k: int | None) -> list[str]:
    """Names of the objects recognised in ``image``, best score first (the first ``k``; all if None)."""
    objs = sorted((o for o in recognized if o.image_index == image), key=lambda o: -o.score)
    names = list(dict.fromkeys(o.label for o in objs))
    return names[:k] if k else names


def segment_targets(
    plan: Plan, recognized: list[PartMask], n_images: int
) -> tuple[list[tuple[str, int]], list[str]]:
    """The objects whose parts the plan needs.

    Returns:
        ``(object, image)`` pairs to segment (named objects; recognised ones for
        ``whole_to_part`` / ``part_to_whole``), and objects needed from the knowledge base only.
    """
    targets: list[tuple[str, int]] = []
    kb_only: list[str] = []
    for n in walk(plan.expr):
        if isinstance(n, PartsExpr):
            images = [n.image] if n.image is not None else list(range(n_images))
            targets += [(canonical(n.object), i) for i in images]
        elif isinstance(n, WholeToPartExpr):
            targets += [(o, n.image) for o in top_objects(recognized, n.image, 1)]
        elif isinstance(n, PartToWholeExpr):
            targets += [(o, i) for i in n.images for o in top_objects(recognized, i, None)]
        elif isinstance(n, KbPartsExpr):
            kb_only.append(canonical(n.object))
    return targets, kb_only


def named_objects(plan: Plan) -> list[tuple[str, int]]:
    """The named objects searched for, with their image (the plan's placed ``parts`` nodes)."""
    out = [
        (canonical(n.object), n.image)
        for n in walk(plan.expr)
        if isinstance(n, PartsExpr) and n.image is not None
    ]
    return list(dict.fromkeys(out))


def compares_images(plan: Plan) -> bool:
    """Whether the plan has a set operation (a comparison, when its parts come from several images)."""
    return any(isinstance(n, SetOpExpr) for n in walk(plan.expr))
