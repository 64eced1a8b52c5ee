"""The bundled taxonomy files: format, Table 6 coverage (re-parsed from the seed), categories, synonyms."""

from __future__ import annotations

import json
import re
from pathlib import Path

import networkx as nx
import pytest

from mereo.errors import DatasetError
from mereo.knowledge import PartHierarchy, canonical
from mereo.knowledge.lexicon import category_tree, load_sources, synonym_table

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
TABLE6_SOURCES = ("ADE20K-Part234", "PACO-LVIS", "PartImageNet")
DATA = Path(__file__).resolve().parents[2] / "mereo" / "knowledge" / "data"


def _table6_rows() -> list[tuple[str, str]]:
    """(dataset, rest of line) for every row of Calico's Table 6, read from the seed text."""
    papers = [
        p
        for p in sorted(SEEDS.glob("*.txt"))
        if "Table 6: Object and Part Taxonomies" in p.read_text(encoding="utf-8")
    ]
    if not papers:
        pytest.skip(f"seed paper with Table 6 not found under {SEEDS}")
    lines = papers[0].read_text(encoding="utf-8").splitlines()
    rows, inside = [], False
    for line in lines:
        if line.strip() == "Dataset Object Parts":
            inside = True
            continue
        if line.startswith("Table 6:"):
            inside = False
            continue
        if inside:
            src, _, rest = line.strip().partition(" ")
            assert src in TABLE6_SOURCES, f"unexpected row in Table 6: {line!r}"
            rows.append((src, rest))
    return rows


def test_every_table6_row_is_in_its_source_file():
    rows = _table6_rows()
    sources = {s.source: s for s in load_sources()}
    counts = {s: 0 for s in TABLE6_SOURCES}
    for src, rest in rows:
        objects = sources[src].objects
        if src == "PartImageNet":
            m = re.match(r"^(.+?) \((\w+)\) (.+)$", rest)
            assert m, rest
            obj, supercat, parts_text = m.groups()
            assert objects[obj].categories() == [supercat]
        else:
            # object names may be several words: exactly one known object must fit the row
            fits = [
                o
                for o in objects
                if rest.startswith(o + " ") and rest[len(o) + 1 :].split(", ") == objects[o].parts
            ]
            assert len(fits) == 1, f"{src} row {rest!r} matches {fits}"
            obj, parts_text = fits[0], rest[len(fits[0]) + 1 :]
        assert objects[obj].parts == parts_text.split(", "), (src, obj)
        counts[src] += 1
    assert counts == {"ADE20K-Part234": 44, "PACO-LVIS": 73, "PartImageNet": 37}
    # and nothing was invented: each file has exactly the table's objects
    assert {s: len(sources[s].objects) for s in TABLE6_SOURCES} == counts


def test_every_table6_row_is_in_the_hierarchy():
    kb = PartHierarchy.default()
    sources = {s.source: s for s in load_sources()}
    for src in TABLE6_SOURCES:
        for obj, entry in sources[src].objects.items():
            got = set(kb.parts_of(obj, sources=[src]))
            assert {canonical(p) for p in entry.parts} <= got, (src, obj)


def test_every_category_used_is_in_the_tree_and_the_tree_is_acyclic():
    tree = category_tree()
    g = nx.DiGraph([(c, p) for c, ps in tree.items() for p in ps])
    assert nx.is_directed_acyclic_graph(g)
    assert all(p in tree for ps in tree.values() for p in ps)
    for src in load_sources():
        if src.source not in TABLE6_SOURCES:
            continue
        for obj, entry in src.objects.items():
            for cat in entry.categories():
                assert cat in tree, f"{src.source}:{obj} uses category {cat!r} missing from categories.json"
    for c in (
        "quadruped",
        "biped",
        "bird",
        "fish",
        "reptile",
        "snake",
        "boat",
        "aeroplane",
        "furniture",
        "seating",
        "vehicle",
        "tableware",
        "appliance",
        "electronics",
        "tool",
        "clothing",
    ):
        assert c in tree


def test_synonyms_are_consistent():
    table = synonym_table()
    # a canonical name maps to itself, and no canonical name is also another group's variant
    for name, canon in table.items():
        assert table[canon] == canon, (name, canon)
    assert canonical("Tyres") == "tire" and canonical("aeroplane") == "airplane"
    raw = json.loads((DATA / "synonyms.json").read_text(encoding="utf-8"))
    assert raw["kinds"]["seat cushion"] == "seat"


def test_a_bad_taxonomy_file_is_a_dataset_error(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"source": "X", "objects": {"chair": {"parts": "leg"}}}))
    with pytest.raises(DatasetError, match="bad.json"):
        load_sources(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DatasetError):
        load_sources(tmp_path)


def test_a_new_source_file_in_the_shared_format_loads(tmp_path):
    doc = {
        "source": "SynthParts-test",
        "provenance": "test",
        "confidence": 0.9,
        "objects": {
            "stool": {"parts": ["legs", "seat", "rung"], "category": "seating"},
            "robot": {"parts": ["arm", "head"], "category": "machine"},
        },
        "subparts": {"seat": ["cushion"]},
    }
    (tmp_path / "synth.json").write_text(json.dumps(doc))
    (tmp_path / "notes.json").write_text(json.dumps({"description": "no objects key: not a source"}))
    kb = PartHierarchy.from_folder(tmp_path)
    assert kb.sources() == ["SynthParts-test"]
    assert kb.parts_of("stool") == ["leg", "rung", "seat"]
    assert kb.provenance("stool", "rung") == {"SynthParts-test": 0.9}
    assert kb.categories("stool") == ["seating", "furniture"]
    assert kb.categories("robot") == ["machine"]  # unknown categories become roots
    assert kb.subparts_of("seat") == ["cushion"]


def test_the_bundled_hierarchy_is_acyclic_and_typed():
    g = PartHierarchy.default().graph
    assert nx.is_directed_acyclic_graph(g)
    kinds = {d["kind"] for _, d in g.nodes(data=True)}
    assert kinds == {"object", "part", "category"}
    for u, v, d in g.edges(data=True):
        ku, kv = g.nodes[u]["kind"], g.nodes[v]["kind"]
        assert (ku, d["relation"], kv) in {
            ("object", "has_part", "part"),
            ("part", "has_part", "part"),
            ("object", "is_a", "category"),
            ("category", "is_a", "category"),
        }
        assert d["sources"] and 0.0 <= d["confidence"] <= 1.0 and d["source"] in d["sources"]
