"""The LangGraph planner: plan schema and interpreter, LMM backends, graph, and the PartAgent.

Kept light on import: the agent itself loads on first use of ``PartAgent`` / ``Answer``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Answer", "PartAgent"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mereo.agent import agent

        return getattr(agent, name)
    raise AttributeError(f"module 'mereo.agent' has no attribute {name!r}")
