"""``PartAgent``: the public entry point that runs the graph for a question about images.

Example:
    >>> agent = PartAgent(segment="oracle", coseg="oracle", correspond="oracle", recognize="oracle")
    >>> agent.register_gold("a.png", gold_parts_of_a)              # oracle runs only
    >>> ans = agent.ask("What visible parts does the chair in the image have?", images=["a.png"])
    >>> ans.labels
    ['back', 'leg', 'seat']
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from PIL import Image

from mereo.agent import lmm as lmm_backends
from mereo.agent.answer import NODE_LINK, Answer, Step
from mereo.agent.choice import choice_labels, choose
from mereo.agent.graph import compile_graph, make_checkpointer
from mereo.agent.state import AgentContext
from mereo.agent.toolset import build_tools
from mereo.cache import FeatureCache
from mereo.config import MereoConfig, load_config, make_config
from mereo.errors import QuestionError
from mereo.knowledge import PartHierarchy
from mereo.tools.base import ToolContext
from mereo.types import ImageRef, PartMask

ImageLike = str | Path | Image.Image | np.ndarray | ImageRef
_FAMILIES = ("lmm", "segment", "coseg", "correspond", "recognize")


class PartAgent:
    """Answers comparison questions about the parts of objects in images.

    Args:
        config: a :class:`MereoConfig` (or a path to a YAML/JSON config); the defaults otherwise.
        lmm, segment, coseg, correspond, recognize: backend names overriding the config, e.g.
            ``lmm="openai:gpt-4o-mini"``, ``segment="oracle"``, ``correspond="none"``.
        cache: a :class:`FeatureCache` to share with other agents (e.g. several backend
            configurations over the same images); a new one of ``config.cache_items`` otherwise.
        **options: any other :class:`MereoConfig` field (``device``, ``checkpointer``, ...).

    The tool backends are checked here and built when a question first needs them
    (:meth:`warm_up` builds them all at once).

    Raises:
        UnknownBackendError: a backend name is not registered (the message lists the known ones).
        CheckpointError: a trained backend's checkpoint is missing or corrupt (when first used).
    """

    def __init__(
        self,
        config: MereoConfig | str | Path | None = None,
        *,
        lmm: str | None = None,
        segment: str | None = None,
        coseg: str | None = None,
        correspond: str | None = None,
        recognize: str | None = None,
        cache: FeatureCache | None = None,
        **options: Any,
    ):
        base = load_config(config) if isinstance(config, (str, Path)) else config
        self.config = make_config(
            base, lmm=lmm, segment=segment, coseg=coseg, correspond=correspond, recognize=recognize, **options
        )
        if cache is not None and not isinstance(cache, FeatureCache):
            raise TypeError(f"cache must be a mereo.cache.FeatureCache, got {type(cache).__name__}")
        self.cache = cache if cache is not None else FeatureCache(self.config.cache_items)
        self.tool_ctx = ToolContext(cache=self.cache, device=self.config.device)
        self.lmm = lmm_backends.build(self.config.lmm, self.config)
        self.tools = build_tools(self.config, self.tool_ctx)
        self.kb = PartHierarchy.default()
        self._stateless = compile_graph(None)
        self._threaded = compile_graph(make_checkpointer(self.config.checkpointer))

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> PartAgent:
        """An agent with a named backend combination (``mereo.config.PRESETS``); keywords override.

        ``"photos"``: SAM 3 part masks, OWLv2 objects, DINOv2 features and a local Qwen2.5-VL
        planner; ``"photos-hosted"``: the same tools with ``openai:gpt-4o-mini``; ``"default"``: the
        embedded SynthParts tools. The weights a preset names are checked before anything loads.

        Raises:
            ValidationError: an unknown preset.
            CheckpointError: weights are not on disk (and cannot be fetched); the message names
                every missing model and how to get it.
        """
        from mereo.config import preset_backends
        from mereo.errors import CheckpointError
        from mereo.tools.hub import missing_weights

        backends = {**preset_backends(name), **{k: v for k, v in overrides.items() if k in _FAMILIES and v}}
        missing = missing_weights(backends)
        if missing:
            raise CheckpointError(
                f"the {name!r} preset needs weights that are not on this machine:\n- "
                + "\n- ".join(missing)
                + "\nOr override a backend, e.g. PartAgent.preset(name, lmm='offline')."
            )
        rest = {k: v for k, v in overrides.items() if k not in _FAMILIES}
        return cls(**backends, **rest)

    @classmethod
    def from_config(cls, path: str | Path, **overrides: Any) -> PartAgent:
        """Build from a YAML or JSON config file; keyword arguments override its values."""
        return cls(load_config(path), **overrides)

    def warm_up(self) -> PartAgent:
        """Build every tool backend now (before timing questions, or before forking workers).

        Raises:
            CheckpointError: a trained backend's checkpoint is missing or corrupt.
        """
        self.tools.build_all()
        return self

    # -- gold masks for oracle backends ---------------------------------------------------------
    def register_gold(self, image: ImageLike, parts: Sequence[PartMask]) -> str:
        """Store an image's gold object and part masks for the ``oracle`` backends.

        Returns:
            The image's sha256 (the key in ``ToolContext.gold``).
        """
        ref = image if isinstance(image, ImageRef) else ImageRef(image)
        self.tool_ctx.gold[ref.sha256] = [PartMask.model_validate(p) for p in parts]
        return ref.sha256

    # -- asking ---------------------------------------------------------------------------------
    def ask(
        self, question: str, images: Sequence[ImageLike] | ImageLike, thread: str | None = None
    ) -> Answer:
        """Answer a question about one or more images.

        Args:
            question: e.g. ``"Which parts do the chair and the stool share?"``.
            images: paths, PIL images or ``H x W x 3`` uint8 arrays, in the order the question
                counts them ("image 1" is the first).
            thread: a conversation id; follow-up questions on the same thread see earlier answers.

        Raises:
            QuestionError: no images, an empty or unparseable question, or images the question
                does not refer to.
            InvalidImageError: an image cannot be read.
        """
        result: Answer | None = None
        for item in self.stream(question, images, thread=thread):
            if isinstance(item, Answer):
                result = item
        if result is None:  # pragma: no cover - stream always ends with an Answer
            raise QuestionError("the agent finished without an answer")
        return result

    def stream(
        self, question: str, images: Sequence[ImageLike] | ImageLike, thread: str | None = None
    ) -> Iterator[Step | Answer]:
        """Like :meth:`ask`, but yields each :class:`Step` as it finishes, then the :class:`Answer`."""
        refs = self._images(images)
        question = self._question(question)
        t0 = time.perf_counter()
        self.tool_ctx.events.clear()  # a running log; each step's own notes are in the trace
        ctx = AgentContext(
            lmm=self.lmm,
            tools=self.tools,
            tool_ctx=self.tool_ctx,
            kb=self.kb,
            config=self.config,
            images=refs,
        )
        graph = self._stateless if thread is None else self._threaded
        cfg = {"configurable": {"thread_id": thread or uuid.uuid4().hex}}
        inputs = {
            "question": question,
            "n_images": len(refs),
            "image_ids": [r.sha256 for r in refs],
            "history": [],
            "plan": None,
            "coseg_task": None,
            "recognized": None,
            "jobs": [],
            "hierarchy": {},
            "parts": None,
            "similarity": [],
            "verify_attempt": 0,
            "retry_jobs": [],
            "presence": {},
            "absent": [],
            "kept_parts": None,
            "doubtful_parts": [],
            "warnings": [],
            "result": None,
            "confidence": {},
            "text": "",
            "trace": None,
        }
        final: dict[str, Any] = {}
        for mode, chunk in graph.stream(inputs, cfg, context=ctx, stream_mode=["updates", "values"]):
            if mode == "values":
                final = chunk
                continue
            for update in chunk.values():
                for d in (update or {}).get("trace") or []:
                    yield Step.from_dict(d)
        yield self._answer(final, refs, time.perf_counter() - t0)

    @staticmethod
    def _images(images: Sequence[ImageLike] | ImageLike) -> list[ImageRef]:
        if isinstance(images, (str, Path, Image.Image, np.ndarray, ImageRef)):
            images = [images]
        refs = [im if isinstance(im, ImageRef) else ImageRef(im) for im in images]
        if not refs:
            raise QuestionError(
                "no images were given; pass the images the question is about, "
                "e.g. agent.ask(question, images=['a.png'])."
            )
        return refs

    @staticmethod
    def _question(question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty; ask about the parts of the objects in the images.")
        return " ".join(question.split())

    def _answer(self, state: dict[str, Any], refs: list[ImageRef], seconds: float) -> Answer:
        result = state.get("result")
        if result is None or state.get("plan") is None:  # pragma: no cover - the graph always sets them
            raise QuestionError("the agent finished without an answer")
        graph = (
            nx.node_link_graph(state["hierarchy"], directed=True, **NODE_LINK)
            if state.get("hierarchy")
            else nx.DiGraph()
        )
        notes = [*result["missing"], *(state.get("warnings") or []), *result["notes"]]
        top = sorted(result["matches"], key=lambda m: -m["similarity"])[:3]
        for m in top:
            notes.append(
                f"'{m['a']['label']}' of the {m['a']['object']} (image {m['a']['image'] + 1}) looks like "
                f"'{m['b']['label']}' of the {m['b']['object']} (image {m['b']['image'] + 1}); "
                f"similarity {m['similarity']}"
            )
        return Answer(
            question=state.get("question", ""),
            text=state.get("text", ""),
            labels=list(result["labels"]),
            parts=list(result["parts"]),
            plan=state["plan"],
            graph=graph,
            trace=[Step.from_dict(d) for d in state.get("trace") or []],
            kind=result["kind"],
            notes=list(dict.fromkeys(notes)),
            matches=list(result["matches"]),
            images=refs,
            seconds=seconds,
            value=result.get("value"),
            not_found=list(result.get("not_found") or []),
            confidence=float((state.get("confidence") or {}).get("confidence", 0.0)),
            label_confidence=dict((state.get("confidence") or {}).get("label_confidence") or {}),
            confidence_raw=(state.get("confidence") or {}).get("confidence_raw"),
            label_confidence_raw=dict((state.get("confidence") or {}).get("label_confidence_raw") or {}),
        )

    # -- multiple choice ------------------------------------------------------------------------
    def choose(self, answer: Answer, choices: Sequence[str]) -> int:
        """The index of the choice whose part set best matches ``answer.labels``
        (:func:`mereo.agent.choice.choose`: Jaccard overlap, ties to the closest MiniLM embedding).

        Raises:
            QuestionError: ``choices`` is empty.
        """
        return choose(answer.labels, choices, self.kb)

    def choice_labels(self, choice: str) -> set[str]:
        """The part (or object) names a multiple-choice answer lists, canonical."""
        return choice_labels(choice, self.kb)
