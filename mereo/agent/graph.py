"""The LangGraph ``StateGraph`` of the agent: nodes, routers, retry policies and the checkpointer.

To add a step, write its node function in :mod:`mereo.agent.nodes` (state in, update out), a
router in :mod:`mereo.agent.routing` if it branches (returning a ``Literal`` of node names), and
wire both in :func:`build_graph`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy

from mereo.agent import checking, nodes, routing
from mereo.agent.state import SERDE_TYPES, AgentContext, AgentState, RecognizeJob, SegmentJob
from mereo.errors import MereoError, ToolError


def _transient(e: Exception) -> bool:
    """Retry tool nodes on unexpected runtime or I/O failures, never on a user-facing MereoError."""
    if isinstance(e, ToolError):
        return isinstance(e.__cause__, (OSError, RuntimeError, TimeoutError))
    return not isinstance(e, MereoError) and isinstance(e, (OSError, RuntimeError, TimeoutError))


TOOL_RETRY = RetryPolicy(
    max_attempts=2, initial_interval=0.05, backoff_factor=2.0, jitter=False, retry_on=_transient
)


def build_graph() -> Any:
    """The uncompiled graph (read top to bottom: the order a question passes through)."""
    g = StateGraph(AgentState, context_schema=AgentContext)
    g.add_node("understand", nodes.understand)
    g.add_node(  # type: ignore[call-overload]
        "recognize", nodes.recognize, input_schema=RecognizeJob, retry_policy=TOOL_RETRY
    )
    g.add_node("hierarchy", nodes.hierarchy)
    g.add_node(  # type: ignore[call-overload]
        "segment", nodes.segment, input_schema=SegmentJob, retry_policy=TOOL_RETRY
    )
    g.add_node("cosegment", nodes.cosegment, retry_policy=TOOL_RETRY)
    g.add_node("gather", nodes.gather)
    g.add_node("correspond", nodes.correspond, retry_policy=TOOL_RETRY)
    g.add_node("verify", checking.verify, retry_policy=TOOL_RETRY)
    g.add_node("examine", checking.examine)
    g.add_node("compose", nodes.compose)
    g.add_node("answer", nodes.answer)

    g.add_edge(START, "understand")
    g.add_conditional_edges("understand", routing.route_after_understand, ["recognize", "hierarchy"])
    g.add_edge("recognize", "hierarchy")
    g.add_conditional_edges("hierarchy", routing.route_tools, ["segment", "cosegment", "verify"])
    g.add_edge("segment", "gather")
    g.add_edge("cosegment", "gather")
    g.add_conditional_edges("gather", routing.route_after_tools, ["correspond", "verify"])
    g.add_edge("correspond", "verify")
    # verify -> segment (its one retry) | examine (hosted LMMs) | compose
    g.add_conditional_edges("verify", checking.route_after_verify, ["segment", "examine", "compose"])
    g.add_edge("examine", "compose")
    g.add_edge("compose", "answer")
    g.add_edge("answer", END)
    return g


def make_checkpointer(path: str | Path | None) -> Any:
    """In memory by default; a SQLite file when ``path`` is given (threads survive restarts).

    Both store the state with LangGraph's msgpack serde, allowed to rebuild the state's typed
    values (:data:`~mereo.agent.state.SERDE_TYPES`) and nothing else.
    """
    serde = JsonPlusSerializer(allowed_msgpack_modules=SERDE_TYPES)
    if path is None:
        return InMemorySaver(serde=serde)
    from langgraph.checkpoint.sqlite import SqliteSaver

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return SqliteSaver(sqlite3.connect(str(p), check_same_thread=False), serde=serde)


def compile_graph(checkpointer: Any = None) -> Any:
    """Compile, with ``checkpointer`` (``None``: no memory between runs)."""
    return build_graph().compile(checkpointer=checkpointer)
