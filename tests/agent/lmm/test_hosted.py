"""The openai backend against a real HTTP server on loopback that speaks chat completions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from mereo.agent.lmm import build
from mereo.agent.lmm.hosted import HostedLMM
from mereo.config import MereoConfig
from mereo.errors import InvalidLMMResponseError, LMMUnavailableError, UnknownBackendError
from mereo.types import ImageRef
from tests.evals.evalfixtures import PAIR_EXPR

GOOD_PLAN = {
    "objects": [{"name": "chair", "image": 0}, {"name": "stool", "image": 1}],
    "expr": PAIR_EXPR,
    "returns": "parts",
}


class ChatServer:
    """Answers POST /v1/chat/completions with scripted replies: a str (content) or ("sleep", s)."""

    def __init__(self) -> None:
        self.replies: list[object] = []
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                reply = outer.replies.pop(0) if outer.replies else "{}"
                if isinstance(reply, tuple) and reply[0] == "status":
                    self.send_response(int(reply[1]))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if isinstance(reply, tuple):
                    time.sleep(reply[1])
                    reply = "{}"
                payload = {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": reply},
                        }
                    ],
                }
                data = json.dumps(payload).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[ChatServer]:
    s = ChatServer()
    yield s
    s.close()


@pytest.fixture()
def images() -> list[ImageRef]:
    rng = np.random.default_rng(0)
    return [ImageRef(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)) for _ in range(2)]


def test_valid_plan_with_images_as_data_urls(server: ChatServer, images: list[ImageRef]) -> None:
    server.replies = ["```json\n" + json.dumps(GOOD_PLAN) + "\n```"]
    lmm = HostedLMM("test-model", base_url=server.url, api_key="k", retries=0)
    plan = lmm.plan("Which parts do the chair and the stool share?", images)
    assert plan.to_gold_format()["expr"] == GOOD_PLAN["expr"]
    assert plan.question.startswith("Which parts")
    req = server.requests[0]
    assert req["model"] == "test-model" and req["response_format"] == {"type": "json_object"}
    content = req["messages"][1]["content"]
    urls = [c["image_url"]["url"] for c in content if c["type"] == "image_url"]
    assert len(urls) == 2 and all(u.startswith("data:image/png;base64,") for u in urls)
    assert '"expr"' in req["messages"][0]["content"]  # the schema is in the system prompt


def test_invalid_reply_gets_one_repair_round(server: ChatServer, images: list[ImageRef]) -> None:
    bad = {"expr": {"op": "intersect", "args": [{"op": "parts", "object": "chair", "image": 5}]}}
    server.replies = [json.dumps(bad), json.dumps(GOOD_PLAN)]
    plan = HostedLMM("m", base_url=server.url, api_key="k", retries=0).plan("q?", images)
    assert plan.expr_dict()["op"] == "intersect"
    assert len(server.requests) == 2
    repair = server.requests[1]["messages"][-1]["content"]
    assert "could not be used" in repair and "args" in repair  # the validation error is shown


def test_invalid_twice_is_a_clear_error(server: ChatServer, images: list[ImageRef]) -> None:
    server.replies = ["not json at all", json.dumps({"expr": {"op": "teleport"}})]
    with pytest.raises(InvalidLMMResponseError, match="invalid plan twice"):
        HostedLMM("m", base_url=server.url, api_key="k", retries=0).plan("q?", images)


def test_image_index_out_of_range_is_repaired(server: ChatServer, images: list[ImageRef]) -> None:
    far = dict(GOOD_PLAN, expr={"op": "parts", "object": "chair", "image": 3})
    server.replies = [json.dumps(far), json.dumps(GOOD_PLAN)]
    HostedLMM("m", base_url=server.url, api_key="k", retries=0).plan("q?", images)
    assert "only 2 images" in server.requests[1]["messages"][-1]["content"]


def test_timeout_is_a_clear_error(server: ChatServer, images: list[ImageRef]) -> None:
    server.replies = [("sleep", 2.0)]
    lmm = HostedLMM("m", base_url=server.url, api_key="k", timeout_s=0.3, retries=0)
    t0 = time.perf_counter()
    with pytest.raises(LMMUnavailableError, match="did not answer within"):
        lmm.plan("q?", images)
    assert time.perf_counter() - t0 < 1.9


def test_part_proposal_is_validated_and_normalised(server: ChatServer) -> None:
    server.replies = [
        json.dumps({"object": "zebra"}),
        json.dumps({"object": "zebra", "parts": ["Legs", "the tail", "head"]}),
    ]
    parts = HostedLMM("m", base_url=server.url, api_key="k", retries=0).propose_parts("zebra")
    assert parts == ["leg", "tail", "head"]


def test_unreachable_server_and_missing_endpoint(
    monkeypatch: pytest.MonkeyPatch, images: list[ImageRef]
) -> None:
    lmm = HostedLMM("m", base_url="http://127.0.0.1:9/v1", api_key="k", retries=0, timeout_s=2)
    with pytest.raises(LMMUnavailableError, match="could not reach"):
        lmm.plan("q?", images)
    for var in ("MEREO_LMM_BASE_URL", "OPENAI_BASE_URL", "MEREO_LMM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(LMMUnavailableError, match="needs an endpoint"):
        build("openai:gpt-4o-mini", MereoConfig())


def test_endpoint_from_environment(
    monkeypatch: pytest.MonkeyPatch, server: ChatServer, images: list[ImageRef]
) -> None:
    monkeypatch.setenv("MEREO_LMM_BASE_URL", server.url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MEREO_LMM_API_KEY", raising=False)
    server.replies = [json.dumps(GOOD_PLAN)]
    lmm = build("openai:local-model", MereoConfig(lmm="openai:local-model", lmm_retries=0))
    assert lmm.name == "openai:local-model"
    assert lmm.plan("q?", images).returns == "parts"


def test_unknown_lmm_backend() -> None:
    with pytest.raises(UnknownBackendError, match="known backends: offline, openai"):
        build("gemini:pro")


def test_agent_with_a_hosted_planner_merges_proposed_parts_with_provenance(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LangHOPS-style: an object the knowledge base lacks gets LMM-proposed parts in the hierarchy."""
    from mereo.agent.agent import PartAgent
    from mereo.types import Mask, PartMask

    plan = {
        "objects": [{"name": "zorblax", "image": 0}],
        "expr": {"op": "parts", "object": "zorblax", "image": 0},
        "returns": "parts",
    }
    server.replies = [json.dumps(plan), json.dumps({"object": "zorblax", "parts": ["Antennae", "shell"]})]
    monkeypatch.setenv("MEREO_LMM_BASE_URL", server.url)
    agent = PartAgent(
        lmm="openai:m",
        segment="oracle",
        coseg="oracle",
        correspond="oracle",
        recognize="oracle",
        lmm_retries=0,
    )
    img = np.zeros((16, 16, 3), dtype=np.uint8)
    m = np.zeros((16, 16), dtype=bool)
    m[2:6, 2:6] = True
    agent.register_gold(
        img,
        [
            PartMask(label="zorblax", object="zorblax", kind="object", mask=Mask.from_numpy(m)),
            PartMask(label="shell", object="zorblax", mask=Mask.from_numpy(m)),
        ],
    )
    ans = agent.ask("What parts does the zorblax have?", images=[img])
    assert ans.labels == ["shell"]
    assert ans.trace[0].backend == "openai:m"
    edge = ans.graph.edges["object:zorblax", "part:antenna"]
    assert edge["source"] == "lmm:openai:m" and edge["confidence"] == 0.5
    assert "proposed by lmm:openai:m" in json.dumps([s.outputs for s in ans.trace])


def test_server_errors_are_retried_with_backoff(server: ChatServer, images: list[ImageRef]) -> None:
    server.replies = [("status", 503), json.dumps(GOOD_PLAN)]
    plan = HostedLMM("m", base_url=server.url, api_key="k", retries=1).plan("q?", images)
    assert plan.returns == "parts" and len(server.requests) == 2
    server.replies = [("status", 500)]
    with pytest.raises(LMMUnavailableError, match="HTTP 500"):
        HostedLMM("m", base_url=server.url, api_key="k", retries=0).plan("q?", images)


def _deep(n: int) -> str:
    """A plan nesting ``n`` unions, as JSON text (json.dumps cannot write one 3,000 deep)."""
    leaf = '{"op": "parts", "object": "stool", "image": 1}'
    expr = '{"op": "parts", "object": "chair", "image": 0}'
    expr = '{"op": "union", "args": [' * n + expr + (", " + leaf + "]}") * n
    return '{"expr": ' + expr + ', "returns": "parts"}'


VIOLATIONS = {
    "image index past the images": (
        dict(GOOD_PLAN, expr={"op": "parts", "object": "chair", "image": 9}),
        "index 9",
    ),
    "negative image index": (
        dict(GOOD_PLAN, expr={"op": "part_to_whole", "part": "leg", "images": [-1]}, returns="objects"),
        "greater than or equal to 0",
    ),
    "nesting 3,000 deep": (_deep(3000), "nests"),
    "nesting 9 deep": (_deep(9), "at most 8"),
    "labels on a first question": (
        dict(GOOD_PLAN, expr={"op": "labels", "labels": ["wing", "laser"]}),
        "first question",
    ),
    "returns inconsistent": (
        dict(
            GOOD_PLAN,
            expr={"op": "count", "part": "leg", "of": {"op": "parts", "object": "stool", "image": 0}},
        ),
        "returns count",
    ),
    "blank object name": (dict(GOOD_PLAN, expr={"op": "parts", "object": "  ", "image": 0}), "blank"),
    "a query inside a set operation": (
        dict(
            GOOD_PLAN,
            expr={
                "op": "union",
                "args": [
                    {"op": "parts", "object": "chair", "image": 0},
                    {"op": "count", "part": "leg", "of": {"op": "parts", "object": "stool", "image": 1}},
                ],
            },
        ),
        "inside another",
    ),
}


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_each_plan_violation_gets_a_repair_round_then_a_mereo_error(
    name: str, server: ChatServer, images: list[ImageRef]
) -> None:
    bad, shown = VIOLATIONS[name]
    bad = bad if isinstance(bad, str) else json.dumps(bad)
    server.replies = [bad, json.dumps(GOOD_PLAN)]
    lmm = HostedLMM("m", base_url=server.url, api_key="k", retries=0)
    assert lmm.plan("q?", images).expr_dict() == GOOD_PLAN["expr"]  # repaired
    assert shown in server.requests[1]["messages"][-1]["content"]  # the problem was shown to the LMM
    server.requests.clear()
    server.replies = [bad, bad]
    with pytest.raises(InvalidLMMResponseError, match="invalid plan twice") as err:
        lmm.plan("q?", images)
    assert shown in str(err.value) and len(server.requests) == 2


def test_labels_on_a_thread_with_an_earlier_answer_are_accepted(
    server: ChatServer, images: list[ImageRef]
) -> None:
    follow = dict(GOOD_PLAN, expr={"op": "labels", "labels": ["leg"]})
    server.replies = [json.dumps(follow)]
    lmm = HostedLMM("m", base_url=server.url, api_key="k", retries=0)
    plan = lmm.plan("and those?", images, history=[{"question": "q", "labels": ["leg", "seat"], "text": ""}])
    assert plan.expr_dict() == {"op": "labels", "labels": ["leg"]} and len(server.requests) == 1


def test_examine_asks_about_each_mask_drawn_on_its_image(server: ChatServer, images: list[ImageRef]) -> None:
    from mereo.agent.examine import examine_parts
    from mereo.types import Mask, PartMask

    m = np.zeros((16, 16), dtype=bool)
    m[2:8, 2:8] = True
    parts = [
        PartMask(label=label, object="chair", image_index=k, mask=Mask.from_numpy(m), score=0.9)
        for k, label in ((0, "seat"), (1, "leg"), (0, "back"))
    ]
    server.replies = [
        json.dumps({"accept": True, "reason": "a seat"}),
        json.dumps({"accept": False, "reason": "that is the floor"}),
        "no idea",  # malformed: one repair round ...
        "still no JSON",  # ... then the tools' decision stands
    ]
    lmm = HostedLMM("m", base_url=server.url, api_key="k", retries=0)
    kept, checks = examine_parts(lmm, images, parts, "Which parts does the chair have?")
    assert [p.label for p in kept] == ["seat", "back"]
    assert [c.decision for c in checks][:2] == ["kept", "dropped"] and checks[1].details[
        "reason"
    ] == "that is the floor"
    assert "tools' decision stands" in checks[2].decision and "mask verdict" in checks[2].details["error"]
    assert len(server.requests) == 4
    first = server.requests[0]["messages"][0]["content"]
    assert '"seat" of the chair' in first[0]["text"] and first[1]["image_url"]["url"].startswith(
        "data:image/png"
    )
    assert "could not be used" in server.requests[3]["messages"][-1]["content"]  # the repair round


def test_agent_with_a_hosted_lmm_examines_each_mask(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The examine step in the graph: the LMM rejects one of two part masks; it is dropped, with a step."""
    from mereo.agent.agent import PartAgent
    from mereo.types import Mask, PartMask

    plan = {
        "objects": [{"name": "chair", "image": 0}],
        "expr": {"op": "parts", "object": "chair", "image": 0},
        "returns": "parts",
    }
    monkeypatch.setenv("MEREO_LMM_BASE_URL", server.url)
    img = np.zeros((16, 16, 3), dtype=np.uint8)
    whole, seat, leg = (np.zeros((16, 16), dtype=bool) for _ in range(3))
    whole[2:14, 2:14] = seat[2:6, 2:14] = leg[6:14, 2:4] = True
    gold = [
        PartMask(label="chair", object="chair", kind="object", mask=Mask.from_numpy(whole)),
        PartMask(label="seat", object="chair", mask=Mask.from_numpy(seat)),
        PartMask(label="leg", object="chair", mask=Mask.from_numpy(leg)),
    ]
    oracle = {"segment": "oracle", "coseg": "oracle", "correspond": "oracle", "recognize": "oracle"}
    verdicts = {"leg": False, "seat": True}

    def reply_for(order: list[str]) -> list[str]:
        return [json.dumps({"accept": verdicts[k], "reason": "looked"}) for k in order]

    agent = PartAgent(lmm="openai:m", lmm_retries=0, **oracle)  # examine: on by default for a hosted LMM
    agent.register_gold(img, gold)
    server.replies = [json.dumps(plan), *reply_for(["leg", "seat"])]
    ans = agent.ask("What parts does the chair have?", images=[img])
    asked = [r["messages"][0]["content"][0]["text"] for r in server.requests[1:]]
    assert len(asked) == 2 and all("of the chair" in t for t in asked)
    assert '"leg"' in asked[0] and '"seat"' in asked[1]  # the masks in the segmenter's order
    assert ans.labels == ["seat"]
    steps = [s for s in ans.trace if s.node == "examine"]
    assert sorted(s.outputs["decision"] for s in steps) == ["dropped", "kept"]
    off = PartAgent(lmm="openai:m", lmm_retries=0, examine=False, **oracle)
    off.register_gold(img, gold)
    server.replies = [json.dumps(plan)]
    assert off.ask("What parts does the chair have?", images=[img]).labels == ["leg", "seat"]
