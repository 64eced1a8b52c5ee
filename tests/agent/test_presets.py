"""The default (``shared-encoder``) preset: every tool family on the committed synthparts-cnn checkpoint."""

from __future__ import annotations

import json

from mereo import PartAgent
from mereo.data.synthparts import generate_scenes
from mereo.knowledge import PartHierarchy


def test_shared_encoder_preset_answers_from_one_encoding_per_image() -> None:
    scene = next(s for s in generate_scenes("test", 8, seed=1) if len(s.objects) == 1)
    obj = scene.objects[0].category
    agent = PartAgent.preset("shared-encoder")
    assert {agent.config.segment, agent.config.recognize, agent.config.correspond} == {"synthparts-cnn"}
    ans = agent.ask(f"What visible parts does the {obj} in the image have?", images=[scene.image])
    assert set(ans.labels) <= set(PartHierarchy.default().parts_of(obj))
    assert ans.parts and all(p.source.startswith("segment:synthparts-cnn") for p in ans.parts)
    # one forward per new image (a zoomed second look at a small object is noted apart, with its box)
    notes = [n for s in ans.trace for n in s.notes if n.get("tool") == "encoder" and "zoom" not in n]
    assert [n["cache"] for n in notes][:1] == ["miss"] and all(n["cache"] == "hit" for n in notes[1:])


def test_the_default_is_the_shared_encoder_and_small_tools_keeps_the_per_tool_encoders() -> None:
    from mereo.config import DEFAULT_BACKENDS, preset_backends

    assert preset_backends("default") == preset_backends("shared-encoder") == DEFAULT_BACKENDS
    assert {DEFAULT_BACKENDS[f] for f in ("segment", "coseg", "correspond", "recognize")} == {
        "synthparts-cnn"
    }
    small = preset_backends("small-tools")
    assert (small["segment"], small["coseg"], small["correspond"], small["recognize"]) == (
        "plum-small",
        "calico-small",
        "dinov2-small",
        "clip-small",
    )


def test_a_two_image_question_encodes_both_images_in_one_batch_before_segmenting() -> None:
    a, b = [s for s in generate_scenes("test", 8, seed=2) if len(s.objects) == 1][:2]
    oa, ob = a.objects[0].category, b.objects[0].category
    agent = PartAgent()
    ans = agent.ask(
        f"Which parts do the {oa} in image 1 and the {ob} in image 2 share?", images=[a.image, b.image]
    )
    notes = [(s.node, n) for s in ans.trace for n in s.notes if n.get("tool") == "encoder"]
    # the whole images (zoomed crops around the named objects are encoded when segmented)
    by_node = [(node, n) for node, n in notes if "zoom" not in n]
    misses = [(node, n) for node, n in by_node if n["cache"] == "miss"]
    assert [node for node, _ in misses] == ["hierarchy", "hierarchy"]  # one batched forward
    assert all(n.get("batch") == 2 for _, n in misses)
    assert all(n["cache"] == "hit" for node, n in by_node if node != "hierarchy")
    # zoomed crops around the named objects: encoded together before segmenting, read when segmenting
    zooms = [(node, n) for node, n in notes if "zoom" in n]
    zoom_misses = [node for node, n in zooms if n["cache"] == "miss"]
    assert len(zoom_misses) <= 2  # at most one crop per object
    assert all(n.get("batch") == 2 for node, n in zooms if node == "hierarchy")
    assert zoom_misses.count("segment") <= 1  # a single crop is encoded when it is read
    assert all(node == "segment" for node, n in zooms if n["cache"] == "hit")


def test_the_zoomed_crops_of_a_question_are_encoded_in_one_batch() -> None:
    # two three-object scenes: their objects are small enough to be zoomed on
    a, b = [s for s in generate_scenes("val", 12, seed=0) if len(s.objects) == 3][:2]
    oa, ob = a.objects[0].category, b.objects[0].category
    ans = PartAgent().ask(
        f"Which parts do the {oa} in image 1 and the {ob} in image 2 share?", images=[a.image, b.image]
    )
    zooms = [(s.node, n) for s in ans.trace for n in s.notes if n.get("tool") == "encoder" and "zoom" in n]
    misses = [(node, n) for node, n in zooms if n["cache"] == "miss"]
    assert [node for node, _ in misses] == ["hierarchy", "hierarchy"] and all(
        n["batch"] == 2 for _, n in misses
    )
    # each object's crop is read once, for its outline and its part kinds
    assert [n["cache"] for node, n in zooms if node == "segment"] == ["hit", "hit"]


def test_an_object_in_doubt_gets_a_closer_look_when_the_calibration_has_a_look_model(monkeypatch) -> None:
    from mereo.agent import checking
    from mereo.agent.verify import LOOK_FEATURES, Calibration

    data = json.loads(json.dumps(Calibration.load().data))
    key = "synthparts-cnn+synthparts-cnn"
    first = data["presence"][key]
    look = {  # the first model plus the look's features at weight 0: the same decisions, with the look read
        **first,
        "features": [*first["features"], *LOOK_FEATURES],
        "weights": [*first["weights"], *[0.0] * 4],
        "mean": [*first["mean"], *[0.0] * 4],
        "std": [*first["std"], *[1.0] * 4],
        "skip": 0.5,
    }
    data["presence"][f"{key}+look"] = look
    monkeypatch.setattr(checking.Calibration, "load", classmethod(lambda cls, path=None: Calibration(data)))
    scene = next(s for s in generate_scenes("test", 8, seed=3) if len(s.objects) == 1)
    absent = next(c for c in ("sofa", "horse", "bicycle") if c != scene.objects[0].category)
    ans = PartAgent().ask(f"What visible parts does the {absent} in the image have?", images=[scene.image])
    check = next(s for s in ans.trace if s.tool == "check:object")
    details = check.outputs["details"]
    assert {*LOOK_FEATURES, "first_score"} <= set(details)
    assert details["first_score"] < 0.5  # the first score left doubt
    looked = [n for s in ans.trace for n in s.notes if n.get("tool") == "encoder" and n.get("look") == absent]
    assert all(n["cache"] == "miss" for n in looked)  # crops of the objects, encoded for the look
    if check.outputs["decision"] == "not found":
        assert f"could not find a {absent}" in ans.text.lower()
