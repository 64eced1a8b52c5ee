"""The graph's nodes (verbs), in the order a question passes through them.

understand -> recognize (fan-out per image, when objects are not named) -> hierarchy ->
segment (fan-out per object and image) | cosegment (image pairs) -> gather -> correspond
(when on and the plan compares images) -> verify (back to segment once for objects it could not
confirm; :mod:`mereo.agent.checking`) -> examine (hosted LMMs) -> compose -> answer. The routers
between them are in :mod:`mereo.agent.routing`.

Each node returns a state update and one trace step per tool call (:mod:`mereo.agent.probe`).
The plan is parsed once (``understand``); masks are validated once, where a tool returns them.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
from langgraph.runtime import Runtime

from mereo.agent.answer import NODE_LINK
from mereo.agent.checking import RETRY
from mereo.agent.compose import evaluate
from mereo.agent.confidence import answer_confidence
from mereo.agent.evidence import Evidence
from mereo.agent.masks import box_mask, dedupe, inside, object_region
from mereo.agent.needs import check_plan_images, coseg_task, named_objects, segment_targets, top_objects
from mereo.agent.phrasing import answer_text
from mereo.agent.probe import probe, tool_call
from mereo.agent.state import AgentContext, AgentState, Composed, RecognizeJob, SegmentJob
from mereo.errors import ToolError
from mereo.knowledge import canonical
from mereo.plan import PartsExpr, Plan, walk
from mereo.tools.base import CoSegmenter
from mereo.types import PartMask

#: Recognitions scoring below this fraction of the best one in an image are dropped.
RELATIVE_SCORE = 0.5
#: A part found for a recognised object counts only when this fraction of it lies inside the object.
MIN_INSIDE = 0.5


def _planned(state: AgentState) -> Plan:
    plan = state.get("plan")
    if plan is None:  # pragma: no cover - understand always sets it
        raise ToolError("internal error: a node ran before the question was understood")
    return plan


def understand(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The LMM turns the question (and earlier turns) into a validated plan; the co-segmentation
    task that answers it directly, if any, is decided here once."""
    c = runtime.context
    with probe(c) as p:
        plan = c.lmm.plan(state["question"], c.images, state.get("history") or [])
        check_plan_images(plan, len(c.images))
        step = p.step(
            "understand",
            "lmm",
            c.lmm.name,
            {"question": state["question"], "images": len(c.images)},
            {"plan": plan.to_gold_format(), "notes": plan.notes},
        )
    return {"plan": plan, "coseg_task": coseg_task(plan, c), "trace": [step]}


def recognize(job: RecognizeJob, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Name the objects in one image (with masks, or box masks when the backend gives none)."""
    c = runtime.context
    with probe(c) as p:
        image = c.images[job["image"]]
        with tool_call(c, "recognize", "recognize"):
            found = c.tools.recognize.recognize(image, None, top_k=job["top_k"])
        best = max((r.score for r in found), default=0.0)
        out = []
        for r in found:
            if r.mask is None and r.score < RELATIVE_SCORE * best:
                continue  # whole-image labels without masks: keep only the clear candidates
            mask = r.mask if r.mask is not None else box_mask(r.box, image.height, image.width)
            out.append(
                PartMask(
                    label=canonical(r.label),
                    object=canonical(r.label),
                    image_index=job["image"],
                    mask=mask,
                    score=float(np.clip(r.score, 0, 1)),
                    kind="object",
                    source=f"recognize:{c.tools.names['recognize']}",
                )
            )
        step = p.step(
            "recognize",
            "recognize",
            c.tools.names["recognize"],
            {"image": job["image"]},
            {"objects": [(o.label, round(o.score, 3)) for o in out]},
        )
    return {"recognized": out, "trace": [step]}


def hierarchy(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Expected parts of every object (knowledge base, or LMM proposals merged with provenance),
    and one segmentation job per object and image."""
    c = runtime.context
    with probe(c) as p:
        plan, rec = _planned(state), state.get("recognized") or []
        targets, kb_only = segment_targets(plan, rec, len(c.images))
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
            jobs.append(
                SegmentJob(
                    object=obj,
                    image=img,
                    parts=expected[obj],
                    description=text,
                    region=object_region(rec, obj, img),
                )
            )
        prepare = getattr(c.tools.segment, "prepare", None) if jobs else None
        if prepare is not None:  # the shared encoder reads the question's images in one batch
            shown = sorted({j["image"] for j in jobs})
            prepare([c.images[i] for i in shown], [(shown.index(j["image"]), j["object"]) for j in jobs])
        graph = nx.node_link_data(c.kb.subgraph(list(expected)), **NODE_LINK) if expected else {}
        step = p.step(
            "hierarchy",
            "kb",
            None,
            {"objects": list(expected)},
            {"parts": expected, "provenance": provenance},
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


def _segment_one(job: SegmentJob, c: AgentContext) -> tuple[list[PartMask], dict[str, Any]]:
    """One object's parts in one image (kept when inside the recognised object), and the step."""
    region = job.get("region")
    # backends that look inside the object's box (sam3) get the recognised region's box
    wants_box = region is not None and region.area > 0 and getattr(c.tools.segment, "uses_box", False)
    extra: dict[str, Any] = {"box": region.bbox()} if region is not None and wants_box else {}
    with probe(c) as p:
        with tool_call(c, "segment", "segment"):
            found = c.tools.segment.segment(
                c.images[job["image"]],
                text=job["description"],
                parts=job["parts"],
                object=job["object"],
                image_index=job["image"],
                **extra,
            )
        retry = job.get("attempt", 1) > 1
        out = [
            pm.model_copy(
                update={
                    "object": pm.object or job["object"],
                    "image_index": job["image"],
                    **({"source": pm.source + RETRY} if retry else {}),
                }
            )
            for pm in found
            if region is None or inside(pm.mask, region) >= MIN_INSIDE
        ]
        step = p.step(
            "segment",
            "segment",
            c.tools.names["segment"],
            {
                "object": job["object"],
                "image": job["image"],
                "description": job["description"],
                **({"attempt": job["attempt"]} if retry else {}),
            },
            {"parts": sorted({pm.label for pm in out})},
        )
    return out, step


def segment(job: SegmentJob, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Segment one object's parts in one image (span-tagged description)."""
    parts, step = _segment_one(job, runtime.context)
    return {"parts": parts, "trace": [step]}


def _coseg(c: AgentContext, task: str) -> list[PartMask]:
    cosegmenter: CoSegmenter | None = c.tools.coseg
    if cosegmenter is None:  # pragma: no cover - routing checks it
        raise ToolError("internal error: the cosegment node ran without a co-segmentation backend")
    with tool_call(c, "coseg", "cosegment"):
        return cosegmenter.cosegment(c.images[0], c.images[1], task)  # type: ignore[arg-type]


def cosegment(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Calico-style: one call on the image pair gives common objects, common or unique parts."""
    c = runtime.context
    plan, task = _planned(state), state.get("coseg_task")
    update: dict[str, list[PartMask]]
    with probe(c) as p:
        if task == "common_objects":
            found = _coseg(c, "common_objects")
            objs = [pm.model_copy(update={"kind": "object", "object": pm.object or pm.label}) for pm in found]
            update, tasks = {"recognized": objs}, ["common_objects"]
        else:
            # common + unique parts = every part of each image's object; the set algebra then answers
            # the question for the named objects even when the scenes hold other objects too
            tasks = ["common_parts", "unique_parts"]
            found = [pm for t in tasks for pm in _coseg(c, t)]
            names = {a.image: canonical(a.object) for a in walk(plan.expr) if isinstance(a, PartsExpr)}
            parts = [
                pm.model_copy(update={"object": names.get(pm.image_index, pm.object), "kind": "part"})
                for pm in found
                if pm.kind == "part"
                and (pm.object is None or canonical(pm.object) == names.get(pm.image_index))
            ]
            update = {"parts": parts}
        labels = sorted({(pm.image_index, pm.label) for v in update.values() for pm in v})
        step = p.step(
            "cosegment", "coseg", c.tools.names["coseg"], {"tasks": tasks, "for": task}, {"found": labels}
        )
    steps = [step]
    if task != "common_objects":
        # co-segmentation describes each image's main object; a named object it did not cover is
        # segmented on its own (recorded in the trace as its own segment step)
        covered = {(pm.image_index, pm.object) for pm in update["parts"]}
        for job in state.get("jobs") or []:
            if (job["image"], job["object"]) not in covered:
                extra, extra_step = _segment_one(job, c)
                update["parts"] = update["parts"] + extra
                steps.append(extra_step)
    return {**update, "trace": steps}


def gather(state: AgentState) -> dict[str, Any]:
    """Join point after the fanned-out tool calls."""
    return {}


def correspond(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Part-to-part feature similarity between every two objects in different images."""
    c = runtime.context
    corresponder = c.tools.correspond
    if corresponder is None:  # pragma: no cover - routing checks it
        raise ToolError("internal error: the correspond node ran without a correspondence backend")
    with probe(c) as p:
        groups: dict[tuple[int, str], list[PartMask]] = {}
        for pm in state.get("parts") or []:
            groups.setdefault((pm.image_index, canonical(pm.object or "")), []).append(pm)
        keys = sorted(groups)
        sims: list[dict[str, Any]] = []
        for i, ka in enumerate(keys):
            for kb in keys[i + 1 :]:
                if ka[0] == kb[0]:
                    continue
                pa, pb = groups[ka], groups[kb]
                with tool_call(c, "correspond", "correspond"):
                    corr = corresponder.correspond(c.images[ka[0]], pa, c.images[kb[0]], pb)
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
        step = p.step(
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
    with probe(c) as p:
        plan = _planned(state)
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
        kept = state.get("kept_parts")
        for pm in kept if kept is not None else state.get("parts") or []:
            ev.parts.setdefault((pm.image_index, canonical(pm.object or "")), []).append(pm)
        ev.absent = {(int(i), str(o)) for i, o in state.get("absent") or []}
        for pm in state.get("doubtful_parts") or []:
            ev.doubtful.setdefault((pm.image_index, canonical(pm.object or "")), []).append(pm)
        for pm in state.get("recognized") or []:
            ev.objects.setdefault(pm.image_index, []).append(pm)
        for s in sims:
            a, b = tuple(s["a"]), tuple(s["b"])
            ev.similarity[(a, b)] = ev.similarity[(b, a)] = s["s"]  # type: ignore[index]
            if s.get("mutual"):
                mutual |= {(a, b), (b, a)}
        res = evaluate(plan.expr, ev)
        checked = kept is not None
        presence = state.get("presence") or {}
        not_found: list[dict[str, Any]] = [
            {
                "object": obj,
                "image": img,
                "reason": f"presence score {presence.get(f'{obj}@{img}', 0.0):.3f} below its threshold, "
                "also after one retry",
            }
            for (obj, img) in named_objects(plan)
            if (img, obj) in ev.absent or (not checked and not ev.parts.get((img, obj)))
        ]
        if not checked:  # no verification: an object without parts is reported as not found
            for x in not_found:
                x["reason"] = "no parts of it were found (not verified)"
        missing = [f"I could not find {_a(x['object'])} in image {x['image'] + 1}." for x in not_found]
        result = Composed(
            labels=res.value.labels,
            kind=res.value.kind,
            parts=dedupe(res.value.all_masks()),
            notes=res.notes,
            matches=res.renamed_matches,
            missing=missing,
            value=res.scalar,
            per_object=res.per_object,
            not_found=not_found,
            caveats=res.caveats,
        )
        step = p.step(
            "compose",
            None,
            None,
            {"expr": plan.expr_dict()},
            {"labels": result["labels"], "value": res.scalar, "notes": res.notes},
        )
    return {"result": result, "trace": [step]}


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def answer(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Words for the answer set; the turn is added to the thread's history."""
    c = runtime.context
    with probe(c) as p:
        plan, result = _planned(state), state.get("result")
        if result is None:  # pragma: no cover - compose always sets it
            raise ToolError("internal error: the answer node ran before compose")
        recognized = {
            i: names[0]
            for i in range(len(c.images))
            if (names := top_objects(state.get("recognized") or [], i, 1))
        }
        text = answer_text(
            plan,
            result["labels"],
            recognized,
            result["missing"],
            scalar=result.get("value"),
            per_object=result.get("per_object"),
            n_images=len(c.images),
            guessed=bool(result.get("caveats")),
        )
        warnings = list(state.get("warnings") or [])
        text = " ".join([text, *result.get("caveats", []), *warnings])
        conf = answer_confidence(result, state.get("presence") or {}, c.config)
        step = p.step("answer", None, None, {}, {"text": text, **conf})
    turn = {"question": state["question"], "labels": result["labels"], "text": text}
    return {"text": text, "history": [turn], "trace": [step], "confidence": conf}
