"""PartHierarchy: hand-checked shared/unique parts, categories, merge with provenance, export."""

from __future__ import annotations

import json

import pytest

from mereo.errors import MereoError, UnknownObjectError, ValidationError
from mereo.knowledge import PartHierarchy

ADE, PACO, PIN = ["ADE20K-Part234"], ["PACO-LVIS"], ["PartImageNet"]
TABLE6 = ["ADE20K-Part234", "PACO-LVIS", "PartImageNet"]

# (a, b, sources, shared, only a, only b), read off Calico's Table 6 by hand
PAIRS = [
    ("chair", "stool", ADE, ["leg", "seat"], ["apron", "arm", "back", "base", "skirt", "stretcher"], []),
    (
        "chair",
        "stool",
        PACO,
        ["leg", "seat"],
        ["apron", "arm", "back", "base", "rail", "skirt", "spindle", "stile", "stretcher", "swivel", "wheel"],
        ["footrest", "step"],
    ),
    (
        "car",
        "truck",
        ADE,
        ["bumper", "door", "headlight", "license plate", "logo", "mirror", "wheel", "window"],
        ["hood", "wiper"],
        [],
    ),
    ("dog", "cat", PIN, ["body", "foot", "head", "tail"], [], []),
    (
        "dog",
        "cat",
        TABLE6,
        ["body", "foot", "head", "tail"],
        ["ear", "eye", "leg", "neck", "nose", "tooth"],
        [],
    ),
    ("bird", "airplane", PIN, ["body", "head", "tail", "wing"], ["foot"], ["engine"]),
    (
        "person",
        "ape",
        ADE + PIN,
        ["foot", "hand", "head"],
        ["arm", "back", "gaze", "leg", "neck", "torso"],
        ["body", "tail"],
    ),
    (
        "sofa",
        "armchair",
        ADE,
        ["arm", "back", "back pillow", "leg", "seat base"],
        ["seat cushion", "skirt"],
        ["apron", "seat"],
    ),
    ("cup", "mug", PACO, ["base", "handle", "inner body", "rim"], [], ["body", "bottom", "drawing", "text"]),
    (
        "bus",
        "van",
        ADE,
        ["bumper", "door", "headlight", "license plate", "logo", "mirror", "wheel", "window", "wiper"],
        [],
        ["taillight"],
    ),
    ("snake", "fish", PIN, ["body", "head"], [], ["fin", "tail"]),
    ("knife", "scissors", PACO, ["blade", "handle"], [], ["finger hole", "screw"]),
    ("ape", "monkey", PIN, ["body", "foot", "hand", "head", "tail"], [], []),
]


@pytest.mark.parametrize(("a", "b", "sources", "shared", "only_a", "only_b"), PAIRS)
def test_shared_and_unique_parts(kb, a, b, sources, shared, only_a, only_b):
    assert kb.shared_parts(a, b, sources) == shared
    assert kb.unique_parts(a, b, sources) == only_a
    assert kb.unique_parts(b, a, sources) == only_b


def test_bicycle_and_car_share_the_wheel(kb):
    assert "wheel" in kb.shared_parts("bicycle", "car")
    assert kb.shared_parts("bicycle", "car", PACO) == ["wheel"]


def test_names_are_normalised_and_synonyms_merge_objects(kb):
    assert kb.parts_of("Stools", ADE) == ["leg", "seat"]
    # ADE's "television receiver" and PACO's "television set" are one object; plurals are singular
    assert kb.parts_of("tv", ADE) == ["base", "button", "frame", "key", "screen", "speaker"]
    assert kb.parts_of("television set", PACO) == ["base", "bottom", "button", "side", "top"]
    assert kb.parts_of("aeroplane", PIN) == ["body", "engine", "head", "tail", "wing"]
    assert "steering wheel" in kb.parts_of("car", PACO)  # PACO spells it "steeringwheel"
    assert kb.has_object("Chairs") and not kb.has_object("spaceship")
    assert kb.objects() == kb.object_vocabulary() and "chair" in kb.objects()
    assert {"leg", "wheel", "propeller"} <= set(kb.part_vocabulary())


def test_union_over_sources_by_default(kb):
    union = set(kb.parts_of("chair"))
    assert set(kb.parts_of("chair", ADE)) | set(kb.parts_of("chair", PACO)) <= union
    assert kb.provenance("chair", "rail") == {"PACO-LVIS": 1.0}
    assert set(kb.provenance("chair", "leg")) >= {"ADE20K-Part234", "PACO-LVIS"}


def test_objects_with_categories_and_subparts(kb):
    assert {"airplane", "bird"} <= set(kb.objects_with("wings"))
    assert "airplane" in kb.objects_with("propeller")
    assert kb.objects_with("no such part") == []
    assert kb.categories("chair")[:2] == ["seating", "furniture"]
    assert kb.categories("dog")[:2] == ["quadruped", "animal"]
    assert {"aeroplane", "aircraft", "vehicle"} <= set(kb.categories("airplane"))
    assert kb.categories("person") == ["human", "biped", "animal"]
    assert {"rim", "tire"} <= set(kb.subparts_of("wheels"))
    deep = kb.parts_of("car", PACO, subparts=True)
    assert "tire" in deep and "tire" not in kb.parts_of("car", PACO)


def test_unknown_names_raise_clear_errors(kb):
    with pytest.raises(UnknownObjectError, match="spaceship") as e:
        kb.parts_of("spaceship")
    assert isinstance(e.value, MereoError)
    with pytest.raises(UnknownObjectError, match="Did you mean: chair"):
        kb.parts_of("chiar")
    with pytest.raises(ValidationError, match="unknown taxonomy source"):
        kb.parts_of("chair", ["Nope"])


def test_merge_adds_proposals_with_provenance():
    kb = PartHierarchy.default()
    added = kb.merge(
        "tricycle",
        ["Wheels", "tricycle seat", "pedals", "handlebars", "the wheel"],
        source="lmm:test",
        confidence=0.6,
        categories=["road vehicle"],
    )
    assert added == ["handlebar", "pedal", "seat", "wheel"]
    assert kb.parts_of("tricycles") == ["handlebar", "pedal", "seat", "wheel"]
    assert kb.provenance("tricycle", "wheel") == {"lmm:test": 0.6}
    assert kb.categories("tricycle") == ["road vehicle", "vehicle"]
    assert "tricycle" in kb.objects_with("pedal") and "tricycle" in kb.object_vocabulary()
    shared = kb.shared_parts("tricycle", "bicycle", ["lmm:test", "PACO-LVIS"])
    assert shared == ["handlebar", "pedal", "wheel"]


def test_merge_never_overwrites_a_more_confident_source():
    kb = PartHierarchy.default()
    assert kb.merge("chair", ["legs", "cushion"], source="lmm:test", confidence=0.5) == ["cushion"]
    edge = kb.graph.edges["object:chair", "part:leg"]
    assert edge["confidence"] == 1.0 and edge["source"] != "lmm:test"
    assert edge["evidence"]["lmm:test"] == 0.5 and "lmm:test" in edge["sources"]
    # a more confident source does take the lead, and the older one stays in the evidence
    assert kb.merge("robot", ["arms"], source="lmm:unsure", confidence=0.4) == ["arm"]
    assert kb.merge("robot", ["arm", "head"], source="lmm:sure", confidence=0.9) == ["head"]
    kb.merge("robot", ["arm"], source="lmm:middling", confidence=0.7)
    edge = kb.graph.edges["object:robot", "part:arm"]
    assert (edge["source"], edge["confidence"]) == ("lmm:sure", 0.9)
    assert edge["evidence"] == {"lmm:unsure": 0.4, "lmm:sure": 0.9, "lmm:middling": 0.7}
    # the bundled default is not changed by merges into a copy
    assert "cushion" not in PartHierarchy.default().parts_of("chair", PACO + ADE)
    assert not PartHierarchy.default().has_object("tricycle")


@pytest.mark.parametrize(("obj", "conf"), [("chair", 1.5), ("chair", -0.1), ("  ", 0.5), ("!!", 0.5)])
def test_merge_rejects_bad_input(obj, conf):
    with pytest.raises(ValidationError):
        PartHierarchy.default().merge(obj, ["leg"], source="lmm:test", confidence=conf)


def test_node_link_round_trip(kb):
    data = json.loads(json.dumps(kb.to_node_link(["chair", "stool"])))
    assert {"nodes", "edges"} <= set(data)
    back = PartHierarchy.from_node_link(data)
    for obj in ("chair", "stool"):
        assert back.parts_of(obj) == kb.parts_of(obj)
        assert back.categories(obj) == kb.categories(obj)
    assert back.provenance("chair", "leg") == kb.provenance("chair", "leg")
    assert back.shared_parts("chair", "stool") == kb.shared_parts("chair", "stool")
    assert not back.has_object("dog")
    full = PartHierarchy.from_node_link(kb.to_node_link())
    assert full.graph.number_of_edges() == kb.graph.number_of_edges()
    assert sorted(full.graph.nodes) == sorted(kb.graph.nodes)


def test_subgraph_holds_objects_parts_subparts_and_categories(kb):
    g = kb.subgraph(["bicycle"])
    want = {"object:bicycle", "part:wheel", "part:tire", "category:road vehicle", "category:vehicle"}
    assert want <= set(g)
    assert "object:car" not in g
    assert g.edges["object:bicycle", "part:wheel"]["relation"] == "has_part"
    assert g.edges["object:bicycle", "category:road vehicle"]["relation"] == "is_a"
