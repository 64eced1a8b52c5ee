"""The graph's routers: which node (or fanned-out tasks) comes next. Each reads the state the
nodes wrote (the plan and its co-segmentation task, decided once in ``understand``) and returns a
node name (a ``Literal``) or a list of :class:`~langgraph.types.Send` tasks."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from mereo.agent.needs import compares_images, recognition_images
from mereo.agent.state import AgentContext, AgentState, RecognizeJob


def route_after_understand(
    state: AgentState, runtime: Runtime[AgentContext]
) -> list[Send] | Literal["hierarchy"]:
    """Recognise unnamed objects (one task per image) or go straight to the hierarchy."""
    plan = state.get("plan")
    need = recognition_images(plan, state.get("coseg_task")) if plan is not None else {}
    if not need:
        return "hierarchy"
    return [Send("recognize", RecognizeJob(image=i, top_k=k)) for i, k in sorted(need.items())]


def route_tools(
    state: AgentState, runtime: Runtime[AgentContext]
) -> list[Send] | Literal["cosegment", "verify"]:
    """Co-segment an image pair, fan out one segmentation per object and image, or skip to verify."""
    if state.get("coseg_task"):
        return "cosegment"
    jobs = state.get("jobs") or []
    if not jobs:
        return "verify"
    return [Send("segment", job) for job in jobs]


def route_after_tools(state: AgentState, runtime: Runtime[AgentContext]) -> Literal["correspond", "verify"]:
    """Check features across images only when a correspondence backend is on and the plan compares
    images (on the first pass; verification's retry does not repeat it); then verify."""
    plan = state.get("plan")
    if not runtime.context.tools.enabled("correspond") or plan is None or state.get("verify_attempt"):
        return "verify"
    images = {pm.image_index for pm in state.get("parts") or []}
    return "correspond" if compares_images(plan) and len(images) >= 2 else "verify"
