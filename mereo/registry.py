"""Backend registries: a plain ``name -> builder`` dict behind one lookup with a helpful error.

Every tool family (``mereo.tools.<family>``) and the LMMs (``mereo.agent.lmm``) keep a
module-level ``REGISTRY`` dict, so adding a backend is one line; :class:`Registry` wraps that
same dict (later additions are seen) and does the name parsing and the error.

A backend name is ``"<name>"`` or ``"<name>:<argument>"`` (``"dinov2:/models/dinov2-base"``,
``"openai:gpt-4o-mini"``); the part after the first ``:`` is the builder's ``arg`` (``None``
when absent).

Example:
    >>> backends = Registry("color", {"red": lambda ctx, arg: ("red", arg)})
    >>> backends.build("red:dark", None)
    ('red', 'dark')
    >>> backends.names()
    ['red']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mereo.errors import UnknownBackendError

Builder = Callable[..., Any]

#: What the error adds after the known names, unless a registry gives its own hint.
DEFAULT_HINT = "Names with an argument look like 'dinov2:/path/to/model'."


class Registry:
    """A view of a ``name -> builder`` mapping with name parsing and a clear error.

    Args:
        family: what the backends are, for messages (``"segment"``, ``"lmm"``).
        builders: the mapping (kept by reference, so entries added later are found).
        hint: a sentence the unknown-name error ends with (how a name with an argument looks).
    """

    def __init__(self, family: str, builders: Mapping[str, Builder], hint: str = DEFAULT_HINT):
        self.family = family
        self.builders = builders
        self.hint = hint

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self.builders)

    def lookup(self, name: str) -> tuple[Builder, str | None]:
        """The builder of ``name`` and the argument after its first ``:`` (``None`` if absent).

        Raises:
            UnknownBackendError: the name is not registered; the message lists the known names.
        """
        key, _, arg = name.partition(":")
        if key not in self.builders:
            raise UnknownBackendError(
                f"unknown {self.family} backend {name!r}; known backends: {', '.join(self.names())}. "
                f"{self.hint}"
            )
        return self.builders[key], arg or None

    def build(self, name: str, ctx: Any) -> Any:
        """Build backend ``name`` as ``builder(ctx, arg)`` (the tool families' builder signature).

        Raises:
            UnknownBackendError: the name is not registered.
        """
        builder, arg = self.lookup(name)
        return builder(ctx, arg)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.partition(":")[0] in self.builders

    def __repr__(self) -> str:
        return f"Registry({self.family!r}, {self.names()})"
