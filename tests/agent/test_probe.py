"""The trace probe: tool notes per step (also across threads) and the tool-error guard."""

from __future__ import annotations

import threading

import pytest

from mereo.agent.agent import PartAgent
from mereo.agent.probe import probe, tool_call
from mereo.agent.state import AgentContext
from mereo.errors import DatasetError, ToolError
from mereo.tools.base import collect_notes


@pytest.fixture(scope="module")
def ctx() -> AgentContext:
    a = PartAgent(segment="oracle", coseg="none", correspond="none", recognize="oracle")
    return AgentContext(a.lmm, a.tools, a.tool_ctx, a.kb, a.config, [])


def test_a_step_holds_the_notes_written_inside_its_block(ctx: AgentContext) -> None:
    ctx.tool_ctx.note(tool="before")
    with probe(ctx) as p:
        ctx.tool_ctx.note(tool="segment", cache="hit")
        with collect_notes() as inner:  # an inner block takes its own notes
            ctx.tool_ctx.note(tool="inner")
        step = p.step("segment", "segment", "oracle")
    assert step["notes"] == [{"tool": "segment", "cache": "hit"}] and inner == [{"tool": "inner"}]
    assert {"tool": "before"} in ctx.tool_ctx.events  # the running log keeps everything


def test_notes_of_parallel_threads_stay_apart(ctx: AgentContext) -> None:
    steps: dict[int, dict] = {}
    barrier = threading.Barrier(4)

    def work(k: int) -> None:
        with probe(ctx) as p:
            barrier.wait()
            for _ in range(20):
                ctx.tool_ctx.note(worker=k)
            steps[k] = p.step("segment", "segment", "oracle")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(steps[k]["notes"] == [{"worker": k}] * 20 for k in range(4))


def test_tool_call_names_the_backend_and_passes_mereo_errors(ctx: AgentContext) -> None:
    with pytest.raises(ToolError, match=r"segment backend 'oracle' failed in segment\(\): KeyError"):
        with tool_call(ctx, "segment", "segment"):
            raise KeyError("boom")
    with pytest.raises(DatasetError):
        with tool_call(ctx, "segment", "segment"):
            raise DatasetError("no gold")
