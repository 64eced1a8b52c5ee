"""PartAgent end to end with oracle tools on SynthParts: accuracy, threads, streaming, saving, bad input."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mereo.agent.agent import PartAgent
from mereo.agent.answer import Answer, Step
from mereo.data.synthparts import generate_scenes
from mereo.data.synthparts.questions import make_questions
from mereo.errors import InvalidImageError, MereoError, QuestionError, UnknownBackendError, ValidationError
from mereo.types import ImageRef

ORACLE = {"segment": "oracle", "coseg": "oracle", "correspond": "oracle", "recognize": "oracle"}


@pytest.fixture(scope="module")
def world() -> tuple[list, dict]:
    scenes = list(generate_scenes("test", 12, seed=5))
    items = []
    for suite in ("partonomy", "pairs", "multistep"):
        items += make_questions(scenes, suite, seed=2, per_image=1)
    return items, {s.uid: s for s in scenes}


@pytest.fixture(scope="module")
def agent() -> PartAgent:
    return PartAgent(**ORACLE)


def _images(agent: PartAgent, item, by_uid) -> list[np.ndarray]:
    arrays = [by_uid[g.image_id].image for g in item.images]
    for arr, g in zip(arrays, item.images, strict=True):
        agent.register_gold(arr, g.parts)
    return arrays


def test_oracle_exact_set_accuracy_on_every_question_type(agent: PartAgent, world) -> None:
    items, by_uid = world
    right, types = 0, Counter()
    for it in items:
        ans = agent.ask(it.question, images=_images(agent, it, by_uid))
        types[it.question_type] += 1
        right += ans.labels == it.gold_labels
        assert ans.plan.to_gold_format()["expr"] == it.gold_plan["expr"]
        if it.gold_labels and ans.kind == "parts":
            # every answer mask carries an answer label, in an image the question is about
            assert {m.label for m in ans.parts} <= set(ans.labels)
            assert {m.image_index for m in ans.parts} <= set(range(len(it.images)))
    assert len(types) == 9
    assert right / len(items) >= 0.95


def test_answer_masks_match_gold_masks(agent: PartAgent, world) -> None:
    items, by_uid = world
    it = next(i for i in items if i.question_type == "common_parts")
    ans = agent.ask(it.question, images=_images(agent, it, by_uid))
    got = {(m.image_index, m.label): m.mask for m in ans.parts}
    gold = {(m.image_index, m.label): m.mask for m in it.gold_masks}
    assert set(got) == set(gold)
    assert all(got[k].iou(gold[k]) == 1.0 for k in gold)


def test_trace_records_each_step_and_backend(agent: PartAgent, world) -> None:
    items, by_uid = world
    it = next(i for i in items if i.question_type == "multistep" and len(i.images) == 3)
    ans = agent.ask(it.question, images=_images(agent, it, by_uid))
    nodes = [s.node for s in ans.trace]
    assert nodes[0] == "understand" and nodes[-1] == "answer"
    assert nodes.count("segment") == 3  # fanned out: one task per object and image
    assert "correspond" in nodes and "compose" in nodes
    seg = [s for s in ans.trace if s.node == "segment"]
    assert {s.backend for s in seg} == {"oracle"} and all(s.seconds >= 0 for s in seg)
    assert ans.graph.number_of_nodes() > 0 and ans.graph.has_node(
        f"object:{it.gold_plan['expr']['args'][1]['object']}"
    )


def test_named_pairs_are_segmented_unless_coseg_named_and_stream_yields_steps(
    agent: PartAgent, world
) -> None:
    items, by_uid = world
    it = next(i for i in items if i.question_type == "unique_parts")
    out = list(agent.stream(it.question, images=_images(agent, it, by_uid)))
    assert all(isinstance(s, Step) for s in out[:-1]) and isinstance(out[-1], Answer)
    nodes = [s.node for s in out[:-1]]
    assert "cosegment" not in nodes and nodes.count("segment") == 2  # both objects are named
    assert out[-1].labels == it.gold_labels
    always = PartAgent(**ORACLE, coseg_named=True)
    ans = always.ask(it.question, images=_images(always, it, by_uid))
    assert "cosegment" in [s.node for s in ans.trace] and ans.labels == it.gold_labels


def test_common_objects_use_the_coseg_tool(agent: PartAgent, world) -> None:
    items, by_uid = world
    it = next(i for i in items if i.question_type == "common_objects")
    ans = agent.ask(it.question, images=_images(agent, it, by_uid))
    assert "cosegment" in [s.node for s in ans.trace] and ans.labels == it.gold_labels


def test_choose_picks_the_matching_multiple_choice_answer(agent: PartAgent, world) -> None:
    items, by_uid = world
    mc = [i for i in items if i.answer_choices]
    assert mc
    for it in mc[:6]:
        ans = agent.ask(it.question, images=_images(agent, it, by_uid))
        assert it.answer_types[agent.choose(ans, it.answer_choices)] == "correct"


def test_follow_up_on_a_thread_sees_the_earlier_answer(tmp_path: Path, world) -> None:
    items, by_uid = world
    first = next(i for i in items if i.question_type == "identification")
    other = next(
        i
        for i in items
        if i.question_type == "identification" and i.images[0].image_id != first.images[0].image_id
    )
    for checkpointer in (None, str(tmp_path / "threads.sqlite")):
        agent = PartAgent(**ORACLE, checkpointer=checkpointer)
        a1 = agent.ask(first.question, images=_images(agent, first, by_uid), thread="t1")
        obj = other.gold_plan["expr"]["object"]
        a2 = agent.ask(
            f"And which of those does the {obj} have?", images=_images(agent, other, by_uid), thread="t1"
        )
        assert a2.labels == sorted(set(a1.labels) & set(other.gold_labels))
        with pytest.raises(QuestionError):  # a fresh thread has no earlier answer to refer to
            agent.ask(
                f"And which of those does the {obj} have?", images=_images(agent, other, by_uid), thread="t2"
            )


def test_save_writes_overlays_json_and_trace(agent: PartAgent, world, tmp_path: Path) -> None:
    items, by_uid = world
    it = next(i for i in items if i.question_type == "common_parts")
    ans = agent.ask(it.question, images=_images(agent, it, by_uid))
    written = ans.save(tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == ["answer.json", "image1.png", "image2.png", "trace.html"]
    data = json.loads((tmp_path / "out" / "answer.json").read_text())
    assert data["labels"] == it.gold_labels and data["plan"]["expr"]["op"] == "intersect"
    with Image.open(tmp_path / "out" / "image1.png") as im:
        assert im.width >= 256 and im.height > 256  # upscaled image plus legend
    assert "<table>" in (tmp_path / "out" / "trace.html").read_text()


# -- bad input --------------------------------------------------------------------------------------
def test_bad_input_gives_clear_errors(agent: PartAgent, world, tmp_path: Path) -> None:
    items, by_uid = world
    it = next(i for i in items if i.question_type == "identification")
    images = _images(agent, it, by_uid)
    with pytest.raises(QuestionError, match="no images"):
        agent.ask(it.question, images=[])
    with pytest.raises(QuestionError, match="refers to 1 image"):
        agent.ask(it.question, images=[images[0], images[0]])
    with pytest.raises(QuestionError, match="could not parse"):
        agent.ask("What is the weather like today?", images=images)
    with pytest.raises(QuestionError, match="empty"):
        agent.ask("   ", images=images)
    with pytest.raises(InvalidImageError, match="not found"):
        agent.ask(it.question, images=[str(tmp_path / "missing.png")])


def test_object_the_image_does_not_contain_is_said_plainly(agent: PartAgent, world) -> None:
    items, by_uid = world
    it = next(i for i in items if i.question_type == "identification")
    present = {p.label for p in it.images[0].parts if p.kind == "object"}
    absent = next(o for o in ("sofa", "airplane", "horse", "teapot") if o not in present)
    ans = agent.ask(
        f"What visible parts does the {absent} in the image have?", images=_images(agent, it, by_uid)
    )
    assert ans.labels == [] and f"could not find a {absent}" in ans.text.lower().replace("an ", "a ")


def test_unknown_backend_names_and_options() -> None:
    with pytest.raises(UnknownBackendError, match="known backends:.*oracle"):
        PartAgent(segment="nope", coseg="oracle", correspond="oracle", recognize="oracle")
    with pytest.raises(UnknownBackendError, match="lmm"):
        PartAgent(lmm="gemini", **ORACLE)
    with pytest.raises(ValidationError, match="unknown config option"):
        PartAgent(**ORACLE, colour="red")


def test_oracle_without_gold_says_how_to_fix_it() -> None:
    agent = PartAgent(**ORACLE)
    img = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(MereoError, match="gold"):
        agent.ask("What visible parts does the chair in the image have?", images=[img])


class _BrokenRecognizer:
    """A user-registered backend with a bug (registries are plain dicts anyone can extend)."""

    name = "broken"

    def recognize(self, image, candidates=None, top_k=3):  # noqa: ANN001, ANN201
        raise ValueError("not enough values to unpack (expected 2, got 1)")  # a backend bug


def test_a_failing_backend_gives_a_clear_tool_error(monkeypatch: pytest.MonkeyPatch, world) -> None:
    import mereo.tools.recognize as recognize_family
    from mereo.errors import ToolError

    monkeypatch.setitem(recognize_family.REGISTRY, "broken", lambda ctx, arg: _BrokenRecognizer())
    agent = PartAgent(**{**ORACLE, "recognize": "broken"})
    items, by_uid = world
    it = next(i for i in items if i.question_type == "whole_to_part")
    with pytest.raises(ToolError, match=r"recognize backend 'broken' failed in recognize\(\): ValueError"):
        agent.ask(it.question, images=_images(agent, it, by_uid))


def test_agents_can_share_one_feature_cache(world) -> None:
    """Two agents given the same FeatureCache: the second reuses the first one's image features."""
    from mereo.cache import FeatureCache

    items, by_uid = world
    item = next(i for i in items if i.question_type == "identification")
    shared = FeatureCache()
    tools = {"segment": "plum-small", "coseg": "oracle", "recognize": "oracle"}
    first = PartAgent(**tools, correspond="oracle", cache=shared)
    second = PartAgent(**tools, correspond="none", cache=shared)
    assert first.cache is shared and second.cache is shared
    first.ask(item.question, _images(first, item, by_uid))
    misses, hits = shared.misses, shared.hits
    assert misses > 0
    second.ask(item.question, _images(second, item, by_uid))
    assert shared.misses == misses and shared.hits > hits
    with pytest.raises(TypeError):
        PartAgent(**ORACLE, cache={})


def test_per_image_coseg_uses_the_agents_own_tools(world) -> None:
    """coseg="per-image" is built from the agent's segment/recognize/correspond backends."""
    items, by_uid = world
    agent = PartAgent(segment="oracle", recognize="oracle", correspond="none", coseg="per-image")
    per_image = agent.tools.coseg
    assert per_image.segmenter is agent.tools.segment and per_image.recognizer is agent.tools.recognize
    assert per_image.corresponder is None
    pairs = [i for i in items if i.question_type in ("common_parts", "unique_parts")]
    right = 0
    for item in pairs:
        ans = agent.ask(item.question, _images(agent, item, by_uid))
        right += sorted(ans.labels) == sorted(item.gold_labels)
    # with gold parts inside, the baseline answers (nearly) every pair question
    assert pairs and right >= 0.8 * len(pairs), (right, len(pairs))


# -- tool notes, typed state, lazy backends -----------------------------------------------------------
def test_tool_notes_reach_the_trace_and_trace_html(world, tmp_path: Path) -> None:
    """The second question on the same image: plum-small notes an image-embedding cache hit in
    its own segment step, and trace.html shows it."""
    items, by_uid = world
    it = next(i for i in items if i.question_type == "identification")
    agent = PartAgent(segment="plum-small", coseg="none", correspond="none", recognize="oracle")
    images = _images(agent, it, by_uid)

    def embedding_notes(ans: Answer) -> list[dict]:
        return [
            n for s in ans.trace if s.node == "segment" for n in s.notes if n.get("what") == "image embedding"
        ]

    first = agent.ask(it.question, images=images)
    assert [n["cache"] for n in embedding_notes(first)] == ["miss"]
    second = agent.ask(it.question, images=images)
    notes = embedding_notes(second)
    assert [n["cache"] for n in notes] == ["hit"] and notes[0]["tool"] == "segment"
    assert all(not s.notes for s in second.trace if s.tool is None)  # compose/answer call no tool
    second.save(tmp_path)
    page = (tmp_path / "trace.html").read_text()
    assert "tool notes" in page and "what=image embedding" in page and "cache=hit" in page
    assert json.loads((tmp_path / "answer.json").read_text())["trace"][2]["notes"]


def test_parallel_segment_steps_keep_their_own_notes(world) -> None:
    """Fanned-out segment tasks run in parallel; each step holds the notes of its own image."""
    items, by_uid = world
    it = next(i for i in items if i.question_type == "multistep" and len(i.images) == 3)
    agent = PartAgent(segment="plum-small", coseg="none", correspond="none", recognize="oracle")
    arrays = _images(agent, it, by_uid)
    ans = agent.ask(it.question, images=arrays)
    shas = [ImageRef(a).sha256[:12] for a in arrays]
    seg = [s for s in ans.trace if s.node == "segment"]
    assert len(seg) == 3
    for s in seg:
        images = {n["image"] for n in s.notes if "image" in n}
        assert images == {shas[s.inputs["image"]]}, (s.inputs, s.notes)


def test_follow_up_state_keeps_typed_values(tmp_path: Path, world) -> None:
    """The checkpointer stores the plan and masks and gives them back typed (serde allow-list)."""
    from mereo.plan import Plan
    from mereo.types import PartMask

    items, by_uid = world
    it = next(i for i in items if i.question_type == "identification")
    agent = PartAgent(**ORACLE, checkpointer=str(tmp_path / "t.sqlite"))
    agent.ask(it.question, images=_images(agent, it, by_uid), thread="typed")
    values = agent._threaded.get_state({"configurable": {"thread_id": "typed"}}).values
    assert isinstance(values["plan"], Plan)
    assert values["parts"] and all(isinstance(p, PartMask) for p in values["parts"])
    assert all(isinstance(p, PartMask) for p in values["result"]["parts"])


def test_backends_are_built_when_a_question_first_needs_them(monkeypatch: pytest.MonkeyPatch, world) -> None:
    import mereo.tools.recognize as recognize_family
    from mereo.tools.recognize.oracle import OracleRecognizer

    built: list[str] = []

    def counting(ctx, arg):  # noqa: ANN001, ANN202
        built.append("recognize")
        return OracleRecognizer(ctx)

    monkeypatch.setitem(recognize_family.REGISTRY, "counting", counting)
    # verification checks a named object's presence with the recognizer; without it, a named
    # object needs no recognizer
    agent = PartAgent(**{**ORACLE, "recognize": "counting"}, verify=False)
    assert built == []  # nothing built by PartAgent()
    items, by_uid = world
    named = next(i for i in items if i.question_type == "identification")
    agent.ask(named.question, images=_images(agent, named, by_uid))
    assert built == []  # a named object needs no recognizer
    unnamed = next(i for i in items if i.question_type == "whole_to_part")
    for _ in range(2):
        ans = agent.ask(unnamed.question, images=_images(agent, unnamed, by_uid))
        assert ans.labels == unnamed.gold_labels
    assert built == ["recognize"]  # built once, on first use
    assert agent.warm_up() is agent and built == ["recognize"]
