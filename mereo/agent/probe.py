"""The trace probe: each node's step (wall time, cache hits, the tools' own notes) and the guard
that turns a backend's unexpected failure into a :class:`~mereo.errors.ToolError`."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mereo.agent.answer import Step
from mereo.agent.state import AgentContext
from mereo.errors import MereoError, ToolError
from mereo.tools.base import collect_notes


class Probe:
    """Measures one step of a node: wall time, whether the shared feature cache was hit, and the
    notes the tools wrote (``ToolContext.note``) while it ran. Made by :func:`probe`."""

    def __init__(self, ctx: AgentContext, notes: list[dict[str, Any]]):
        self.ctx, self.notes, self.t0 = ctx, notes, time.perf_counter()
        self.h0, self.m0 = ctx.tool_ctx.cache.hits, ctx.tool_ctx.cache.misses

    def step(
        self,
        node: str,
        tool: str | None = None,
        backend: str | None = None,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The step so far as ``Step.to_dict()`` (the state's trace holds JSON-ready dicts).

        ``cache_hit`` is None for steps without image features (no tool, the LMM, the knowledge
        base) and for tools that used no cache; else whether every lookup was a hit.
        """
        c = self.ctx.tool_ctx.cache
        dh, dm = c.hits - self.h0, c.misses - self.m0
        hit = None if tool in (None, "lmm", "kb") or dh + dm == 0 else dm == 0
        seconds = time.perf_counter() - self.t0
        notes = [dict(n) for n in self.notes]
        return Step(node, tool, backend, inputs or {}, outputs or {}, seconds, hit, notes).to_dict()


@contextmanager
def probe(ctx: AgentContext) -> Iterator[Probe]:
    """Measure the block; tool notes written inside it (in this task) go to its step."""
    with collect_notes() as notes:
        yield Probe(ctx, notes)


@contextmanager
def tool_call(ctx: AgentContext, family: str, method: str) -> Iterator[None]:
    """Run a call of ``ctx.tools.<family>.<method>``: an unexpected failure becomes a
    :class:`ToolError` that names the backend and where it failed (MereoErrors pass unchanged)."""
    try:
        yield
    except MereoError:
        raise
    except Exception as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        raise ToolError(
            f"the {family} backend {ctx.tools.names[family]!r} failed in {method}(): {type(e).__name__}: {e} "
            f"(at {Path(where.filename).name}:{where.lineno}). Try another backend, e.g. {family}='oracle' "
            "for evals, or report the bug with this message."
        ) from e
