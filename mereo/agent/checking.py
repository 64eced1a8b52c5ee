"""The ``verify`` and ``examine`` nodes: between the tools and the set algebra, with one way back.

``verify`` checks what the tools returned (:mod:`mereo.agent.verify`): are the images like
SynthParts (only a warning), is each named object in its image, does each part mask reach its
label's threshold. A named object that fails gets one more attempt when the knowledge base has
another name for it: its segmentation runs again, described with that synonym ("The couch has
..."), and its presence is scored on the new evidence; if it still fails (or there is no other
name to try), the answer says it could not find the object. (A focused second look by the
recogniser, with only that object as candidate, was tried and dropped: with one candidate the
detector labels whatever it sees as that object, so absent objects passed.) ``examine`` (hosted
LMMs) shows each remaining part mask to the LMM. Every check is one trace step (node ``verify``
/ ``examine``, tool ``check:<kind>``).
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from mereo.agent.examine import can_examine, examine_parts
from mereo.agent.needs import named_objects
from mereo.agent.ood import FULL_SIZE_HINT, image_statistics
from mereo.agent.probe import probe, tool_call
from mereo.agent.state import AgentContext, AgentState, SegmentJob
from mereo.agent.verify import (
    Calibration,
    Check,
    check_parts,
    closer_look,
    dropped_guesses,
    pooled_features,
    presence_features,
    presence_score,
    probe_probability,
    segmenter_evidence,
)
from mereo.knowledge import canonical
from mereo.knowledge.lexicon import synonyms_of
from mereo.types import PartMask

#: ``PartMask.source`` suffix of masks from the retry's segmentation.
RETRY = "+retry"


def _check_step(c: AgentContext, node: str, check: Check) -> dict[str, Any]:
    with probe(c) as p:
        seg = c.tools.names["segment"]
        backend = {"object": c.tools.names["recognize"], "part": seg, "guess": seg}.get(check.check)
        return p.step(node, f"check:{check.check}", backend, {"subject": check.subject}, check.to_dict())


def _examine_on(c: AgentContext) -> bool:
    on = c.config.examine
    return can_examine(c.lmm) if on is None else bool(on) and can_examine(c.lmm)


def _detections(c: AgentContext, image: int, candidates: list[str] | None) -> list[tuple[str, float]]:
    with tool_call(c, "recognize", "recognize"):
        found = c.tools.recognize.recognize(c.images[image], candidates, top_k=5)
    return [(canonical(r.label), float(r.score)) for r in found]


def verify(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Check object presence, part scores and the images; ask for one retry of failed objects."""
    c = runtime.context
    attempt = int(state.get("verify_attempt") or 0) + 1
    plan = state.get("plan")
    parts: list[PartMask] = list(state.get("parts") or [])
    if not c.config.verify or plan is None:
        return {"verify_attempt": attempt, "retry_jobs": [], "kept_parts": None}
    cal = Calibration.load()
    names = c.tools.names
    checks: list[Check] = []
    warnings: list[str] = []
    ood = cal.ood() if attempt == 1 else None
    for i, im in enumerate(c.images if ood is not None else []):
        assert ood is not None
        d = ood.distance(image_statistics(im.array))
        ok = d <= ood.threshold
        checks.append(Check("ood", f"image {i + 1}", d, ood.threshold, ok, "kept" if ok else "warned"))
        if not ok:
            warnings.append(f"image {i + 1}")
    presence = dict(state.get("presence") or {})
    absent = [tuple(x) for x in state.get("absent") or []]
    retried = {(j["object"], j["image"]) for j in state.get("retry_jobs") or []}
    jobs = {(j["object"], j["image"]): j for j in state.get("jobs") or []}
    retry_jobs: list[SegmentJob] = []
    dets: dict[int, list[tuple[str, float]]] = {}
    probe_model = cal.probe(names["segment"])
    for obj, img in named_objects(plan):
        if attempt == 2 and (obj, img) not in retried:
            continue  # decided on the first attempt
        mine = [pm for pm in parts if pm.image_index == img and canonical(pm.object or "") == obj]
        again = [pm for pm in mine if pm.source.endswith(RETRY)]
        evidence = again if attempt == 2 and again else [pm for pm in mine if not pm.source.endswith(RETRY)]
        if img not in dets:
            dets[img] = _detections(c, img, None)
        seen = list(dets[img])
        p_cat = probe_probability(pooled_features(c.tools.segment, c.images[img]), obj, probe_model)
        expected = len(jobs[(obj, img)]["parts"]) if (obj, img) in jobs else max(1, len(evidence))
        image = c.images[img]
        own = segmenter_evidence(c.tools.segment, image, obj)
        feats = presence_features(obj, seen, evidence, expected, image.width * image.height, p_cat, own)
        model = cal.presence(names["recognize"], names["segment"], probe=p_cat is not None)
        score, threshold, calibrated = presence_score(feats, model)
        look = cal.presence(names["recognize"], names["segment"], look=True) if calibrated else None
        if look is not None and score < float(look["skip"]):  # in doubt: a closer look at the objects
            extra = closer_look(c.tools.segment, image, obj)
            if extra is not None:
                feats = {**feats, **extra, "first_score": score}
                score, threshold, _ = presence_score(feats, look)
        ok = score >= threshold
        synonyms = [s for s in synonyms_of(obj) if s != obj]
        can_retry = attempt == 1 and (obj, img) in jobs and bool(synonyms)
        decision = "kept" if ok else "retry" if can_retry else "not found"
        subject = f"{obj} in image {img + 1}"
        details: dict[str, Any] = {k: round(v, 4) for k, v in feats.items()}
        if not ok and attempt == 1 and not can_retry:
            details["retry"] = "none: the knowledge base has no other name to try"
        checks.append(Check("object", subject, score, threshold, ok, decision, attempt, calibrated, details))
        presence[f"{obj}@{img}"] = score
        if ok:
            absent = [a for a in absent if a != (img, obj)]
        elif can_retry:
            from mereo.tools.segment.text import describe

            job = jobs[(obj, img)]
            text = describe(synonyms[0], job["parts"])
            retry_jobs.append(SegmentJob(**{**job, "description": text, "attempt": 2}))  # type: ignore[typeddict-item]
        else:
            absent.append((img, obj))
    thresholds = cal.part_thresholds(names["segment"])
    kept: list[PartMask] = []
    doubtful: list[PartMask] = []
    if not retry_jobs:
        groups: dict[tuple[int, str], list[PartMask]] = {}
        for pm in parts:
            groups.setdefault((pm.image_index, canonical(pm.object or "")), []).append(pm)
        for (img, obj), group in groups.items():
            if (img, obj) in absent:
                continue
            again = [pm for pm in group if pm.source.endswith(RETRY)]
            use = again if again else group
            ok_parts, part_checks = check_parts(use, thresholds, None, f"the {obj} in image {img + 1}")
            kept += ok_parts
            checks += part_checks
            doubtful += dropped_guesses(use, ok_parts, thresholds)
    steps = [_check_step(c, "verify", ch) for ch in checks]
    if not steps:
        with probe(c) as p:
            steps.append(p.step("verify", None, None, {"attempt": attempt}, {"checks": 0}))
    update: dict[str, Any] = {
        "verify_attempt": attempt,
        "retry_jobs": retry_jobs,
        "presence": presence,
        "absent": [list(a) for a in absent],
        "trace": steps,
    }
    if attempt == 1:
        update["warnings"] = _ood_warning(warnings, names)
    if not retry_jobs:
        update["kept_parts"] = kept
        update["doubtful_parts"] = doubtful
    return update


#: Backend names of the embedded tools trained on SynthParts (the OOD warning names them).
EMBEDDED_PREFIXES = ("synthparts-",)


def is_embedded(backend: str) -> bool:
    """Whether a backend is one of the embedded SynthParts-trained tools (``*-small``, ``synthparts-*``)."""
    name = backend.split(":", 1)[0]
    return name.endswith("-small") or name.startswith(EMBEDDED_PREFIXES)


def _ood_warning(images: list[str], names: dict[str, str]) -> list[str]:
    if not images:
        return []
    small = [f"{f}={b}" for f, b in sorted(names.items()) if is_embedded(b)]
    if not small:
        return []
    which = images[0] if len(images) == 1 else ", ".join(images)
    verb = "looks" if len(images) == 1 else "look"
    return [
        f"{which[0].upper()}{which[1:]} {verb} unlike the SynthParts scenes the embedded tools "
        f"({', '.join(small)}) were trained on, so this answer may be wrong; for such images use the "
        f"full-size backends: {FULL_SIZE_HINT}."
    ]


def route_after_verify(
    state: AgentState, runtime: Runtime[AgentContext]
) -> list[Send] | Literal["examine", "compose"]:
    """Back to ``segment`` for the one retry; else ``examine`` (hosted LMMs) or ``compose``."""
    jobs = state.get("retry_jobs") or []
    if jobs and int(state.get("verify_attempt") or 0) == 1:
        return [Send("segment", job) for job in jobs]
    return "examine" if _examine_on(runtime.context) else "compose"


def examine(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The LMM accepts or rejects each candidate part mask (drawn on its image)."""
    c = runtime.context
    kept_parts = state.get("kept_parts")
    parts = list(kept_parts if kept_parts is not None else state.get("parts") or [])
    kept, checks = examine_parts(c.lmm, c.images, parts, state.get("question", ""))
    steps = [_check_step(c, "examine", ch) for ch in checks]
    return {"kept_parts": kept, "trace": steps}
