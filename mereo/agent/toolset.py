"""The agent's tool backends, from the family registries (``mereo.tools.<family>.REGISTRY``).

Every family registers its own ``oracle`` backend (the gold masks of evals: the upper bound).
A :class:`Toolset` checks the backend names when the agent is made and builds each backend the
first time a question needs it, so an agent starts in well under a second and a question loads
only the models it uses.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from mereo.config import TOOL_FAMILIES, MereoConfig
from mereo.errors import CheckpointError, MereoError, UnknownBackendError
from mereo.tools.base import Corresponder, CoSegmenter, Recognizer, Segmenter, ToolContext, build_backend

#: Families that ``"none"`` switches off.
OPTIONAL_FAMILIES = ("correspond", "coseg")


def tool_registry(family: str) -> dict[str, Callable[..., Any]]:
    """The family's registry (``mereo.tools.<family>.REGISTRY``), copied.

    Raises:
        UnknownBackendError: ``family`` is not a tool family.
    """
    if family not in TOOL_FAMILIES:
        raise UnknownBackendError(f"unknown tool family {family!r}; families: {', '.join(TOOL_FAMILIES)}")
    module = importlib.import_module(f"mereo.tools.{family}")
    return dict(module.REGISTRY)


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


class Toolset:
    """The backends of one agent, typed by the tool protocols of :mod:`mereo.tools.base`.

    Each backend is built on first use (thread-safe, once). ``coseg`` and ``correspond`` are
    ``None`` when switched off with ``"none"``; :meth:`enabled` tells without building.
    ``coseg="per-image"`` (without ``:<segment backend>``) is composed from this toolset's own
    segment, recognize and correspond backends, so e.g. ``segment="oracle"`` also applies inside it.

    Args:
        cfg: the agent's config (the backend name of each family).
        ctx: the tool context every backend is built with.

    Raises:
        UnknownBackendError: a backend name is not registered (when the toolset is made).
        CheckpointError: a trained backend's checkpoint is missing (when it is first used).

    Attributes:
        names: family -> backend name, as configured.
    """

    def __init__(self, cfg: MereoConfig, ctx: ToolContext):
        self.names: dict[str, str] = {f: getattr(cfg, f) for f in TOOL_FAMILIES}
        self._ctx = ctx
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()
        for family, name in self.names.items():
            if self.enabled(family) and not (family == "coseg" and name == "per-image"):
                key = name.partition(":")[0]
                registry = tool_registry(family)
                if key not in registry:
                    build_backend(family, registry, name, ctx)  # raises UnknownBackendError

    def enabled(self, family: str) -> bool:
        """Whether the family has a backend (not switched off with ``"none"``)."""
        return not (family in OPTIONAL_FAMILIES and self.names[family] == "none")

    @property
    def segment(self) -> Segmenter:
        return self._get("segment")

    @property
    def coseg(self) -> CoSegmenter | None:
        return self._get("coseg")

    @property
    def correspond(self) -> Corresponder | None:
        return self._get("correspond")

    @property
    def recognize(self) -> Recognizer:
        return self._get("recognize")

    def build_all(self) -> Toolset:
        """Build every backend now (e.g. before timing questions, or before forking workers)."""
        for family in TOOL_FAMILIES:
            self._get(family)
        return self

    def _get(self, family: str) -> Any:
        with self._lock:
            if family not in self._built:
                self._built[family] = self._build(family)
            return self._built[family]

    def _build(self, family: str) -> Any:
        name = self.names[family]
        if not self.enabled(family):
            return None
        if family == "coseg" and name == "per-image":
            from mereo.tools.coseg.per_image import from_tools

            return from_tools(self._ctx, self.segment, self.recognize, self.correspond)
        registry = tool_registry(family)
        try:
            return build_backend(family, registry, name, self._ctx)
        except MereoError:
            raise
        except (FileNotFoundError, OSError) as e:
            raise CheckpointError(
                f"could not build the {family} backend {name!r}: {e}. Train it with "
                f"`mereo train {family}`, or pick another: {', '.join(sorted(registry))}"
            ) from e


def build_tools(cfg: MereoConfig, ctx: ToolContext) -> Toolset:
    """The :class:`Toolset` of ``cfg`` (backends checked now, built on first use).

    ``"none"`` switches the ``correspond`` and ``coseg`` families off. Nothing falls back: an
    unknown name or a missing checkpoint is an error that says what to do.

    Raises:
        UnknownBackendError: a backend name is not registered.
    """
    return Toolset(cfg, ctx)
