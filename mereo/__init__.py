"""Mereo: answer comparison questions about the parts of objects in images, with part masks.

Example:
    >>> from mereo import PartAgent
    >>> agent = PartAgent()                       # offline planner, small trained tools, CPU
    >>> ans = agent.ask("Which parts do the chair in image 1 and the stool in image 2 share?",
    ...                 images=["a.png", "b.png"])
    >>> ans.labels, ans.text
    >>> ans.save("out/")                          # overlays, answer.json, trace.html

The heavy parts (LangGraph, torch models) load on first use of :class:`PartAgent`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mereo.config import MereoConfig, load_config
from mereo.errors import MereoError

if TYPE_CHECKING:
    from mereo.agent.agent import PartAgent
    from mereo.agent.answer import Answer, Step

__version__ = "0.1.0"
__all__ = ["Answer", "MereoConfig", "MereoError", "PartAgent", "Step", "list_backends", "load_config"]


def list_backends(family: str | None = None) -> Any:
    """Registered backend names: ``{family: [names]}`` for the four tool families and ``lmm``,
    or the list of one family (``"segment"``, ``"coseg"``, ``"correspond"``, ``"recognize"``, ``"lmm"``)."""
    from mereo.agent.toolset import list_backends as _list

    return _list(family)


def __getattr__(name: str) -> Any:
    if name == "PartAgent":
        from mereo.agent.agent import PartAgent

        return PartAgent
    if name in ("Answer", "Step"):
        from mereo.agent import answer

        return getattr(answer, name)
    raise AttributeError(f"module 'mereo' has no attribute {name!r}")
