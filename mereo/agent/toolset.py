"""Building the agent's tool backends through the family registries (``mereo.tools.<family>``).

The agent sees each family's ``REGISTRY`` plus the ``oracle`` backend of
:mod:`mereo.agent.oracle` when the family does not register one itself, so
``PartAgent(segment="oracle")`` works for every family.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mereo.agent import oracle
from mereo.config import TOOL_FAMILIES, MereoConfig
from mereo.errors import CheckpointError, MereoError, UnknownBackendError
from mereo.tools.base import ToolContext, build_backend

ORACLE_BUILDERS: dict[str, Callable[[ToolContext, str | None], Any]] = {
    "segment": oracle.build_segment,
    "coseg": oracle.build_coseg,
    "correspond": oracle.build_correspond,
    "recognize": oracle.build_recognize,
}


def tool_registry(family: str) -> dict[str, Callable[..., Any]]:
    """The family's registry (``mereo.tools.<family>.REGISTRY``) with ``oracle`` added when absent.

    Raises:
        UnknownBackendError: ``family`` is not a tool family.
    """
    if family not in TOOL_FAMILIES:
        raise UnknownBackendError(f"unknown tool family {family!r}; families: {', '.join(TOOL_FAMILIES)}")
    try:
        module = importlib.import_module(f"mereo.tools.{family}")
        registry = dict(getattr(module, "REGISTRY", {}))
    except ImportError:
        registry = {}
    registry.setdefault("oracle", ORACLE_BUILDERS[family])
    return registry


def list_backends(family: str | None = None) -> dict[str, list[str]] | list[str]:
    """Backend names of one family, or ``{family: names}`` for all (``lmm`` included)."""
    if family is None:
        from mereo.agent import lmm

        out: dict[str, list[str]] = {f: sorted(tool_registry(f)) for f in TOOL_FAMILIES}
        out["lmm"] = lmm.list_backends()
        return out
    if family == "lmm":
        from mereo.agent import lmm

        return lmm.list_backends()
    return sorted(tool_registry(family))


@dataclass
class Toolset:
    """The built backends of one agent (``None`` where a family is switched off with ``"none"``)."""

    segment: Any
    coseg: Any
    correspond: Any
    recognize: Any
    names: dict[str, str]

    def get(self, family: str) -> Any:
        return getattr(self, family)


def build_tools(cfg: MereoConfig, ctx: ToolContext) -> Toolset:
    """Build every tool family's backend named in ``cfg``.

    ``"none"`` switches the ``correspond`` and ``coseg`` families off. Nothing falls back: an
    unknown name or a missing checkpoint is an error that says what to do. ``coseg="per-image"``
    (without ``:<segment backend>``) is composed from this agent's own segment, recognize and
    correspond backends, so e.g. ``segment="oracle"`` also applies inside it; co-segmentation is
    built last for that.

    Raises:
        UnknownBackendError, CheckpointError, MereoError.
    """
    built: dict[str, Any] = {}
    for family in sorted(TOOL_FAMILIES, key=lambda f: f == "coseg"):
        name = getattr(cfg, family)
        if name == "none" and family in ("correspond", "coseg"):
            built[family] = None
            continue
        if family == "coseg" and name == "per-image":
            from mereo.tools.coseg.per_image import from_tools

            built[family] = from_tools(ctx, built["segment"], built["recognize"], built["correspond"])
            continue
        registry = tool_registry(family)
        try:
            built[family] = build_backend(family, registry, name, ctx)
        except MereoError:
            raise
        except (FileNotFoundError, OSError) as e:
            raise CheckpointError(
                f"could not build the {family} backend {name!r}: {e}. Train it with "
                f"`mereo train {family}`, or pick another: {', '.join(sorted(registry))}"
            ) from e
    return Toolset(names={f: getattr(cfg, f) for f in TOOL_FAMILIES}, **built)
