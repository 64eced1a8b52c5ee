"""LMM backends behind one interface, chosen by a string: ``offline`` (default), ``openai:<model>``
or ``transformers:<hub id or dir>`` (a local vision-language model, :mod:`mereo.agent.lmm.local`).

``REGISTRY`` maps a backend name to ``builder(arg, config) -> LMM``; the part of the name after
the first ``:`` is ``arg`` (the model name for ``openai``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mereo.agent.lmm.base import LMM
from mereo.config import MereoConfig
from mereo.registry import Registry


def _offline(arg: str | None, cfg: MereoConfig) -> LMM:
    from mereo.agent.lmm.offline import OfflinePlanner

    return OfflinePlanner()


def _openai(arg: str | None, cfg: MereoConfig) -> LMM:
    from mereo.agent.lmm.hosted import build_hosted

    return build_hosted(arg, timeout_s=cfg.lmm_timeout_s, retries=cfg.lmm_retries)


def _transformers(arg: str | None, cfg: MereoConfig) -> LMM:
    from mereo.agent.lmm.local import build_local

    return build_local(arg, device=cfg.device)


REGISTRY: dict[str, Callable[[str | None, MereoConfig], Any]] = {
    "offline": _offline,
    "openai": _openai,
    "transformers": _transformers,
}


BACKENDS = Registry("lmm", REGISTRY, hint="A hosted model looks like 'openai:gpt-4o-mini'.")
list_backends = BACKENDS.names


def build(name: str, cfg: MereoConfig | None = None) -> LMM:
    """Build the LMM backend ``name`` (``"offline"``, ``"openai:gpt-4o-mini"``).

    Raises:
        UnknownBackendError: the name is not registered.
    """
    builder, arg = BACKENDS.lookup(name)
    return builder(arg, cfg or MereoConfig())


__all__ = ["BACKENDS", "LMM", "REGISTRY", "build", "list_backends"]
