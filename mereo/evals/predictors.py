"""What the eval runner asks: the agent with a given set of backends, or the blind baseline.

A predictor turns one :class:`~mereo.data.items.QAItem` into a :class:`Prediction`. Backends
are a dict ``{"lmm": ..., "segment": ..., "coseg": ..., "correspond": ..., "recognize": ...}``;
``lmm="blind"`` selects :class:`BlindPredictor` (no image, no agent), anything else builds a
:class:`mereo.PartAgent` once and reuses it for every item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from mereo.data.items import QAItem
from mereo.metrics import casefold_label
from mereo.types import PartMask

BLIND = "blind"


@dataclass
class Prediction:
    """One item's prediction, JSON-ready through :meth:`to_dict`.

    Attributes:
        text: the answer in words.
        labels: the answer's labels (part names; object names for object questions).
        parts: the answer's masks, ``image_index`` into the item's images.
        plan: the predicted plan as ``{"expr": ..., "returns": ...}``, when there is one.
        choice: index of the chosen answer choice for multiple-choice items.
        seconds: wall time of the question, choice included.
        steps: a short trace: ``[{"node", "tool", "backend", "seconds", "cache_hit"}, ...]``.
        notes: remarks of the agent.
        no_plan: the predictor does not plan (the blind baseline): plan accuracy does not apply.
        value: the yes/no or count the answer gives (``None``: none).
        not_found: objects the answer says it could not find.
        confidence: the answer's calibrated confidence in ``[0, 1]``, when it has one;
            confidence_raw / label_confidence_raw: its evidence before calibration (what
            ``mereo calibrate --records`` fits on).
    """

    text: str
    labels: list[str]
    parts: list[PartMask] = field(default_factory=list)
    plan: dict[str, Any] | None = None
    choice: int | None = None
    seconds: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    no_plan: bool = False
    value: bool | int | None = None
    not_found: list[str] = field(default_factory=list)
    confidence: float | None = None
    confidence_raw: float | None = None
    label_confidence_raw: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "labels": self.labels,
            "plan": self.plan,
            "choice": self.choice,
            "parts": [p.model_dump(mode="json") for p in self.parts],
            "steps": self.steps,
            "notes": self.notes,
            "no_plan": self.no_plan,
            "value": self.value,
            "not_found": self.not_found,
            "confidence": self.confidence,
            "confidence_raw": self.confidence_raw,
            "label_confidence_raw": self.label_confidence_raw,
        }


class Predictor(Protocol):
    name: str

    def predict(self, item: QAItem) -> Prediction: ...


class BlindPredictor:
    """The blind baseline: the taxonomy's parts of the named objects, no image.

    It reads which objects the item is about from its gold plan (or the object names the
    question mentions) and evaluates the plan's set expression on the knowledge base's part lists
    (``PartHierarchy.default().parts_of``). It returns no masks. Objects it cannot know without
    looking (``whole_to_part``, ``part_to_whole``, ``common_objects``) give an empty answer. So it
    shows what the images add beyond the object names.
    """

    name = BLIND

    def __init__(self) -> None:
        from mereo.knowledge import PartHierarchy

        self.kb = PartHierarchy.default()

    def _parts(self, obj: str | None) -> set[str]:
        if not obj:
            return set()
        try:
            return set(self.kb.parts_of(obj))
        except KeyError:  # UnknownObjectError
            return set()

    def evaluate(self, expr: Any) -> set[str]:
        """The label set of a set expression (items JSON format) over taxonomy parts."""
        if not isinstance(expr, dict):
            return set()
        op = expr.get("op")
        if op in ("parts", "kb_parts"):
            return self._parts(expr.get("object"))
        if op == "labels":
            return {str(x) for x in expr.get("labels", [])}
        args = [self.evaluate(a) for a in expr.get("args", [])]
        if not args:
            return set()
        if op == "intersect":
            return set.intersection(*args)
        if op == "union":
            return set.union(*args)
        if op == "difference":
            return args[0].difference(*args[1:])
        if op == "symmetric_difference":
            out = args[0]
            for a in args[1:]:
                out = out ^ a
            return out
        return set()

    def _objects_in_question(self, question: str) -> list[str]:
        q = f" {casefold_label(question)} "
        return [o for o in self.kb.objects() if f" {o} " in q or f" {o}s " in q]

    def predict(self, item: QAItem) -> Prediction:
        t0 = time.perf_counter()
        plan = item.gold_plan
        if plan and isinstance(plan.get("expr"), dict):
            labels = self.evaluate(plan["expr"])
        else:
            labels = set().union(*[self._parts(o) for o in self._objects_in_question(item.question)])
        out = sorted(labels)
        choice = None
        if item.answer_choices:
            from mereo.agent.choice import choose

            choice = choose(out, item.answer_choices, self.kb, item.answer_parts, ties="first")
        text = ("The parts are: " + ", ".join(out) + ".") if out else "I cannot tell without looking."
        return Prediction(
            text=text,
            labels=out,
            plan=None,
            choice=choice,
            no_plan=True,
            seconds=time.perf_counter() - t0,
            steps=[{"node": "blind", "tool": "kb"}],
        )


class AgentPredictor:
    """The agent with the given backends; built once, reused for every item.

    Gold masks of each item's images are registered with the agent before it is asked, so
    ``oracle`` backends can read them (the trained backends ignore them).
    """

    def __init__(self, backends: dict[str, str], cache: Any | None = None):
        try:
            from mereo.agent import PartAgent  # type: ignore[attr-defined]
        except ImportError:  # the package __init__ may not re-export it
            from mereo.agent.agent import PartAgent

        self.agent = PartAgent(**backends).warm_up()  # built before workers fork from this process
        if cache is not None and hasattr(self.agent, "tool_ctx"):
            # share image features with the other configurations of an ablation grid: tools read
            # the cache from their ToolContext at call time, keyed by "<family>:<backend>"
            self.agent.cache = cache
            self.agent.tool_ctx.cache = cache
        self.name = ",".join(f"{k}={v}" for k, v in sorted(backends.items()))

    def predict(self, item: QAItem) -> Prediction:
        from mereo.types import ImageRef

        t0 = time.perf_counter()
        images = [ImageRef(gi.path) for gi in item.images]
        for ref, gi in zip(images, item.images, strict=True):
            self.agent.register_gold(ref, gi.parts)
        answer = self.agent.ask(item.question, images=images)
        choice = None
        if item.answer_choices:
            choice = int(self.agent.choose(answer, item.answer_choices))
        plan = answer.plan.to_gold_format() if hasattr(answer.plan, "to_gold_format") else None
        steps = [
            {
                "node": s.node,
                "tool": s.tool,
                "backend": s.backend,
                "seconds": round(s.seconds, 4),
                "cache_hit": s.cache_hit,
            }
            for s in answer.trace
        ]
        return Prediction(
            text=answer.text,
            labels=list(answer.labels),
            parts=list(answer.parts),
            plan=plan,
            choice=choice,
            seconds=time.perf_counter() - t0,
            steps=steps,
            notes=list(getattr(answer, "notes", [])),
            value=getattr(answer, "value", None),
            not_found=[str(x.get("object")) for x in getattr(answer, "not_found", [])],
            confidence=getattr(answer, "confidence", None),
            confidence_raw=getattr(answer, "confidence_raw", None),
            label_confidence_raw=dict(getattr(answer, "label_confidence_raw", {}) or {}),
        )


def build_predictor(backends: dict[str, str], cache: Any | None = None) -> Predictor:
    """The blind baseline when ``backends["lmm"] == "blind"``, else the agent."""
    if backends.get("lmm") == BLIND:
        return BlindPredictor()
    return AgentPredictor({k: v for k, v in backends.items()}, cache=cache)
