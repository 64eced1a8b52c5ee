"""The graph's nodes (verbs) and routers, in the order a question passes through them.

understand -> recognize (fan-out per image, when objects are not named) -> hierarchy ->
segment (fan-out per object and image) | cosegment (image pairs) -> gather -> correspond
(when on and the plan compares images) -> compose -> answer.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np
from langgraph.runtime import Runtime
from langgraph.types import Send

from mereo.agent.answer import NODE_LINK, Step
from mereo.agent.compose import Evidence, evaluate
from mereo.agent.phrasing import answer_text
from mereo.agent.state import AgentContext, AgentState, RecognizeJob, SegmentJob
from mereo.errors import MereoError, QuestionError, ToolError
from mereo.knowledge import canonical
from mereo.plan import (
    CommonObjectsExpr,
    KbPartsExpr,
    PartsExpr,
    PartToWholeExpr,
    Plan,
    SetOpExpr,
    WholeToPartExpr,
    parse_plan,
    walk,
)
from mereo.types import Mask, PartMask

#: Recognitions scoring below this fraction of the best one in an image are dropped.
RELATIVE_SCORE = 0.5
#: A part found for a recognised object counts only when this fraction of it lies inside the object.
MIN_INSIDE = 0.5


# -- helpers ------------------------------------------------------------------------------------
def _tool(ctx: AgentContext, family: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``ctx.tools.<family>.<method>``; an unexpected failure becomes a :class:`ToolError`
    that names the backend and where it failed (MereoErrors pass through unchanged)."""
    try:
        return getattr(ctx.tools.get(family), method)(*args, **kwargs)
    except MereoError:
        raise
    except Exception as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        raise ToolError(
            f"the {family} backend {ctx.tools.names[family]!r} failed in {method}(): {type(e).__name__}: {e} "
            f"(at {Path(where.filename).name}:{where.lineno}). Try another backend, e.g. {family}='oracle' "
            "for evals, or report the bug with this message."
        ) from e


class _Probe:
    """Measures a step: wall time and whether the shared feature cache was hit."""

    def __init__(self, ctx: AgentContext):
        self.ctx, self.t0 = ctx, time.perf_counter()
        self.h0, self.m0 = ctx.tool_ctx.cache.hits, ctx.tool_ctx.cache.misses

    def step(
        self,
        node: str,
        tool: str | None = None,
        backend: str | None = None,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        c = self.ctx.tool_ctx.cache
        dh, dm = c.hits - self.h0, c.misses - self.m0
        hit = None if tool in (None, "lmm", "kb") or dh + dm == 0 else dm == 0
        return Step(
            node, tool, backend, inputs or {}, outputs or {}, time.perf_counter() - self.t0, hit
        ).to_dict()


@contextmanager
def _events(ctx: AgentContext) -> Iterator[list[dict[str, Any]]]:
    """Collect the tool notes written during a block (shared list; parallel tasks may interleave)."""
    start = len(ctx.tool_ctx.events)
    out: list[dict[str, Any]] = []
    yield out
    out.extend(ctx.tool_ctx.events[start:])


def _plan(state: AgentState) -> Plan:
    return parse_plan(state["plan"])


def _pm(d: dict[str, Any]) -> PartMask:
    return PartMask.model_validate(d)


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
    if used and not unplaced and len(used) < n_images:
        raise QuestionError(
            f"the question refers to {len(used)} image(s) but {n_images} were given; pass only the images "
            "it is about, or name each one (e.g. 'the stool in image 2')."
        )


def coseg_task(plan: Plan, ctx: AgentContext) -> str | None:
    """The co-segmentation task that answers the plan directly, if it is a plain image-pair question
    (common objects; common / unique parts of two named objects only with ``config.coseg_named``)."""
    if ctx.tools.coseg is None or not ctx.config.use_coseg or len(ctx.images) != 2:
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
        return {
            "intersect": "common_parts",
            "difference": "unique_parts",
            "symmetric_difference": "unique_parts",
        }.get(e.op)
    return None


def _recognition_images(plan: Plan, ctx: AgentContext) -> dict[int, int]:
    """Image index -> how many objects to recognise there."""
    need: dict[int, int] = {}
    for n in walk(plan.expr):
        if isinstance(n, WholeToPartExpr):
            need[n.image] = max(need.get(n.image, 0), 1)
        elif isinstance(n, PartToWholeExpr):
            need.update({i: 5 for i in n.images})
        elif isinstance(n, CommonObjectsExpr) and coseg_task(plan, ctx) != "common_objects":
            need.update({i: 5 for i in n.images})
    for o in plan.objects:
        if o.name is None and o.image is not None:
            need.setdefault(o.image, 1)
    return need


# -- nodes --------------------------------------------------------------------------------------
def understand(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The LMM turns the question (and earlier turns) into a validated plan."""
    c = runtime.context
    probe = _Probe(c)
    plan = c.lmm.plan(state["question"], c.images, state.get("history") or [])
    check_plan_images(plan, len(c.images))
    step = probe.step(
        "understand",
        "lmm",
        c.lmm.name,
        {"question": state["question"], "images": len(c.images)},
        {"plan": plan.to_gold_format(), "notes": plan.notes},
    )
    return {"plan": plan.model_dump(mode="json"), "trace": [step]}


def route_after_understand(state: AgentState, runtime: Runtime[AgentContext]) -> list[Send] | str:
    """Recognise unnamed objects (one task per image) or go straight to the hierarchy."""
    need = _recognition_images(_plan(state), runtime.context)
    if not need:
        return "hierarchy"
    return [Send("recognize", RecognizeJob(image=i, top_k=k)) for i, k in sorted(need.items())]


def recognize(job: RecognizeJob, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Name the objects in one image (with masks, or box masks when the backend gives none)."""
    c = runtime.context
    probe = _Probe(c)
    image = c.images[job["image"]]
    found = _tool(c, "recognize", "recognize", image, None, top_k=job["top_k"])
    best = max((r.score for r in found), default=0.0)
    out = []
    for r in found:
        if r.mask is None and r.score < RELATIVE_SCORE * best:
            continue  # whole-image labels without masks: keep only the clear candidates
        mask = r.mask if r.mask is not None else _box_mask(r.box, image.height, image.width)
        out.append(
            PartMask(
                label=canonical(r.label),
                object=canonical(r.label),
                image_index=job["image"],
                mask=mask,
                score=float(np.clip(r.score, 0, 1)),
                kind="object",
                source=f"recognize:{c.tools.names['recognize']}",
            ).model_dump(mode="json")
        )
    step = probe.step(
        "recognize",
        "recognize",
        c.tools.names["recognize"],
        {"image": job["image"]},
        {"objects": [(o["label"], round(o["score"], 3)) for o in out]},
    )
    return {"recognized": out, "trace": [step]}


def _inside(part: Mask, region: Mask) -> float:
    """Fraction of the part's pixels that lie inside the object region (1 for an empty part)."""
    if tuple(part.size) != tuple(region.size) or part.area == 0:
        return 1.0
    return Mask.intersection([part, region]).area / part.area


def _box_mask(box: tuple[float, float, float, float], h: int, w: int) -> Mask:
    x, y, bw, bh = box
    m = np.zeros((h, w), dtype=bool)
    m[max(0, int(y)) : min(h, int(np.ceil(y + bh))), max(0, int(x)) : min(w, int(np.ceil(x + bw)))] = True
    return Mask.from_numpy(m)


def _top_objects(recognized: list[dict[str, Any]], image: int, k: int | None) -> list[str]:
    objs = sorted((o for o in recognized if o["image_index"] == image), key=lambda o: -o["score"])
    names = list(dict.fromkeys(o["label"] for o in objs))
    return names[:k] if k else names


def hierarchy(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Expected parts of every object (knowledge base, or LMM proposals merged with provenance)."""
    c = runtime.context
    probe = _Probe(c)
    plan, rec = _plan(state), state.get("recognized") or []
    targets: list[tuple[str, int]] = []
    kb_only: list[str] = []
    for n in walk(plan.expr):
        if isinstance(n, PartsExpr):
            images = [n.image] if n.image is not None else list(range(len(c.images)))
            targets += [(canonical(n.object), i) for i in images]
        elif isinstance(n, WholeToPartExpr):
            targets += [(o, n.image) for o in _top_objects(rec, n.image, 1)]
        elif isinstance(n, PartToWholeExpr):
            targets += [(o, i) for i in n.images for o in _top_objects(rec, i, None)]
        elif isinstance(n, KbPartsExpr):
            kb_only.append(canonical(n.object))
    provenance: dict[str, str] = {}
    expected: dict[str, list[str]] = {}
    for obj in dict.fromkeys([t[0] for t in targets] + kb_only):
        expected[obj], provenance[obj] = _expected_parts(obj, c)
    described = {
        (canonical(o.name), o.image): o.description for o in plan.objects if o.name and o.description
    }
    jobs = []
    for obj, img in dict.fromkeys(targets):
        text = described.get((obj, img)) or described.get((obj, None)) or _describe(obj, expected[obj])
        same = [Mask.from_rle(o["mask"]) for o in rec if o["image_index"] == img and o["label"] == obj]
        region = Mask.union(same).to_coco() if same else None  # every instance of that object
        jobs.append(SegmentJob(object=obj, image=img, parts=expected[obj], description=text, region=region))
    graph = nx.node_link_data(c.kb.subgraph(list(expected)), **NODE_LINK) if expected else {}
    step = probe.step(
        "hierarchy", "kb", None, {"objects": list(expected)}, {"parts": expected, "provenance": provenance}
    )
    return {"jobs": jobs, "hierarchy": graph, "trace": [step]}


def _expected_parts(obj: str, c: AgentContext) -> tuple[list[str], str]:
    if c.kb.has_object(obj):
        return c.kb.parts_of(obj), "knowledge base"
    proposals = c.lmm.propose_parts(obj, c.images)
    c.kb.merge(obj, proposals, source=f"lmm:{c.lmm.name}", confidence=0.5)
    return c.kb.parts_of(obj), f"proposed by lmm:{c.lmm.name}"


def _describe(obj: str, parts: list[str]) -> str:
    from mereo.tools.segment.text import describe

    return describe(obj, parts)


def route_tools(state: AgentState, runtime: Runtime[AgentContext]) -> list[Send] | str:
    """Co-segment an image pair, fan out one segmentation per object and image, or skip to compose."""
    if coseg_task(_plan(state), runtime.context):
        return "cosegment"
    jobs = state.get("jobs") or []
    if not jobs:
        return "compose"
    return [Send("segment", job) for job in jobs]


def segment(job: SegmentJob, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Segment one object's parts in one image (span-tagged description)."""
    c = runtime.context
    probe = _Probe(c)
    rle = job.get("region")
    region = Mask.from_rle(rle) if rle else None
    # backends that look inside the object's box (sam3) get the recognised region's box
    wants_box = region is not None and region.area > 0 and getattr(c.tools.segment, "uses_box", False)
    extra = {"box": region.bbox()} if region is not None and wants_box else {}
    found = _tool(
        c,
        "segment",
        "segment",
        c.images[job["image"]],
        text=job["description"],
        parts=job["parts"],
        object=job["object"],
        image_index=job["image"],
        **extra,
    )
    out = [
        p.model_copy(update={"object": p.object or job["object"], "image_index": job["image"]}).model_dump(
            mode="json"
        )
        for p in found
        if region is None or _inside(p.mask, region) >= MIN_INSIDE
    ]
    step = probe.step(
        "segment",
        "segment",
        c.tools.names["segment"],
        {"object": job["object"], "image": job["image"], "description": job["description"]},
        {"parts": sorted({p["label"] for p in out})},
    )
    return {"parts": out, "trace": [step]}


def cosegment(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Calico-style: one call on the image pair gives common objects, common or unique parts."""
    c = runtime.context
    probe = _Probe(c)
    plan = _plan(state)
    task = coseg_task(plan, c)
    update: dict[str, Any]
    if task == "common_objects":
        found = _tool(c, "coseg", "cosegment", c.images[0], c.images[1], "common_objects")
        objs = [
            p.model_copy(update={"kind": "object", "object": p.object or p.label}).model_dump(mode="json")
            for p in found
        ]
        update, tasks = {"recognized": objs}, ["common_objects"]
    else:
        # common + unique parts = every part of each image's object; the set algebra then answers
        # the question for the named objects even when the scenes hold other objects too
        tasks = ["common_parts", "unique_parts"]
        found = [p for t in tasks for p in _tool(c, "coseg", "cosegment", c.images[0], c.images[1], t)]
        names = {a.image: canonical(a.object) for a in walk(plan.expr) if isinstance(a, PartsExpr)}
        parts = [
            p.model_copy(update={"object": names.get(p.image_index, p.object), "kind": "part"}).model_dump(
                mode="json"
            )
            for p in found
            if p.kind == "part" and (p.object is None or canonical(p.object) == names.get(p.image_index))
        ]
        update = {"parts": parts}
    labels = sorted({(p["image_index"], p["label"]) for v in update.values() for p in v})
    step = probe.step(
        "cosegment", "coseg", c.tools.names["coseg"], {"tasks": tasks, "for": task}, {"found": labels}
    )
    steps = [step]
    if task != "common_objects":
        # co-segmentation describes each image's main object; a named object it did not cover is
        # segmented on its own (recorded in the trace as its own segment step)
        covered = {(p["image_index"], p["object"]) for p in update["parts"]}
        for job in state.get("jobs") or []:
            if (job["image"], job["object"]) not in covered:
                extra = segment(job, runtime)  # type: ignore[arg-type]
                update["parts"] = update["parts"] + extra["parts"]
                steps += extra["trace"]
    return {**update, "trace": steps}


def gather(state: AgentState) -> dict[str, Any]:
    """Join point after the fanned-out tool calls."""
    return {}


def route_after_tools(state: AgentState, runtime: Runtime[AgentContext]) -> Literal["correspond", "compose"]:
    """Check features across images only when a correspondence backend is on and the plan compares images."""
    c = runtime.context
    if c.tools.correspond is None:
        return "compose"
    images = {p["image_index"] for p in state.get("parts") or []}
    compares = any(isinstance(n, SetOpExpr) for n in walk(_plan(state).expr))
    return "correspond" if compares and len(images) >= 2 else "compose"


def correspond(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Part-to-part feature similarity between every two objects in different images."""
    c = runtime.context
    probe = _Probe(c)
    groups: dict[tuple[int, str], list[PartMask]] = {}
    for d in state.get("parts") or []:
        pm = _pm(d)
        groups.setdefault((pm.image_index, canonical(pm.object or "")), []).append(pm)
    keys = sorted(groups)
    sims: list[dict[str, Any]] = []
    for i, ka in enumerate(keys):
        for kb in keys[i + 1 :]:
            if ka[0] == kb[0]:
                continue
            pa, pb = groups[ka], groups[kb]
            corr = _tool(c, "correspond", "correspond", c.images[ka[0]], pa, c.images[kb[0]], pb)
            mutual = {(i, j) for i, j, _ in corr.matches}
            for r, a in enumerate(pa):
                for s, b in enumerate(pb):
                    sims.append(
                        {
                            "a": [ka[0], ka[1], canonical(a.label)],
                            "b": [kb[0], kb[1], canonical(b.label)],
                            "s": float(corr.similarity[r][s]),
                            "mutual": (r, s) in mutual,
                            "t": float(corr.threshold),
                        }
                    )
    step = probe.step(
        "correspond",
        "correspond",
        c.tools.names["correspond"],
        {"groups": [list(k) for k in keys]},
        {"pairs": len(sims)},
    )
    return {"similarity": sims, "trace": [step]}


def compose(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Evaluate the plan's set expression over the labelled masks."""
    c = runtime.context
    probe = _Probe(c)
    plan = _plan(state)
    mutual: set[Any] = set()
    sims = state.get("similarity") or []
    threshold = c.config.match_threshold
    if threshold is None:  # the correspondence backend's own (calibrated) threshold
        threshold = float(sims[0].get("t", 0.5)) if sims else 0.5
    ev = Evidence(
        mutual=mutual,
        normalize=canonical,
        threshold=threshold,
        kb_parts=lambda o: c.kb.parts_of(o) if c.kb.has_object(o) else [],
    )
    for d in state.get("parts") or []:
        pm = _pm(d)
        ev.parts.setdefault((pm.image_index, canonical(pm.object or "")), []).append(pm)
    for d in state.get("recognized") or []:
        pm = _pm(d)
        ev.objects.setdefault(pm.image_index, []).append(pm)
    for s in sims:
        a, b = tuple(s["a"]), tuple(s["b"])
        ev.similarity[(a, b)] = ev.similarity[(b, a)] = s["s"]  # type: ignore[index]
        if s.get("mutual"):
            mutual |= {(a, b), (b, a)}
    res = evaluate(plan.expr, ev)
    missing = [
        f"I could not find {_a(obj)} in image {img + 1}."
        for (obj, img) in _searched(state)
        if not ev.parts.get((img, obj))
    ]
    result = {
        "labels": res.value.labels,
        "kind": res.value.kind,
        "parts": [m.model_dump(mode="json") for m in _dedupe(res.value.all_masks())],
        "notes": res.notes,
        "matches": res.renamed_matches,
        "missing": missing,
    }
    step = probe.step(
        "compose", None, None, {"expr": plan.expr_dict()}, {"labels": result["labels"], "notes": res.notes}
    )
    return {"result": result, "trace": [step]}


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _searched(state: AgentState) -> list[tuple[str, int]]:
    """Named objects that were searched for, per image (from the plan's ``parts`` nodes)."""
    out = []
    for n in walk(_plan(state).expr):
        if isinstance(n, PartsExpr) and n.image is not None:
            out.append((canonical(n.object), n.image))
    return list(dict.fromkeys(out))


def _dedupe(masks: list[PartMask]) -> list[PartMask]:
    seen, out = set(), []
    for m in masks:
        key = (m.image_index, m.object, m.label, m.kind, m.mask.counts)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def answer(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Words for the answer set; the turn is added to the thread's history."""
    c = runtime.context
    probe = _Probe(c)
    plan, result = _plan(state), state["result"]
    recognized = {
        i: names[0]
        for i in range(len(c.images))
        if (names := _top_objects(state.get("recognized") or [], i, 1))
    }
    text = answer_text(plan, result["labels"], recognized, result.get("missing", []))
    step = probe.step("answer", None, None, {}, {"text": text})
    turn = {"question": state["question"], "labels": result["labels"], "text": text}
    return {"text": text, "history": [turn], "trace": [step]}
