"""The object-part hierarchy: a networkx DiGraph built from the taxonomy sources.

Nodes are ``"<kind>:<name>"`` (kind is ``object``, ``part`` or ``category``; names are canonical,
see :func:`~mereo.knowledge.lexicon.canonical`), with attributes ``kind``, ``name`` and
``sources``. Edges carry ``relation`` (``has_part`` or ``is_a``), ``evidence`` (source ->
confidence), ``sources`` (sorted list), and ``source`` / ``confidence`` of the most confident one:

- ``object:chair -has_part-> part:leg``; ``part:wheel -has_part-> part:rim``;
- ``object:chair -is_a-> category:seating``; ``category:seating -is_a-> category:furniture``.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, Field, field_validator

from mereo.errors import UnknownObjectError, ValidationError
from mereo.knowledge.lexicon import TaxonomySource, canonical, category_tree, load_sources
from mereo.knowledge.normalize import normalize

CATEGORY_SOURCE = "Mereo-categories"
_lock = threading.Lock()


def node_id(kind: str, name: str) -> str:
    """The graph node of a name: ``node_id("part", "leg") == "part:leg"``."""
    return f"{kind}:{name}"


class MergeRequest(BaseModel):
    """Validated arguments of :meth:`PartHierarchy.merge`."""

    object: str = Field(min_length=1)
    proposals: list[str]
    source: str = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)

    @field_validator("object")
    @classmethod
    def _has_letters(cls, v: str) -> str:
        if not canonical(v):
            raise ValueError(f"object name {v!r} is empty after normalisation")
        return v


class PartHierarchy:
    """Object -> part knowledge with provenance, queried by canonical names.

    Args:
        graph: an existing hierarchy graph (as built by this class); an empty one by default.

    Example:
        >>> kb = PartHierarchy.default()
        >>> kb.shared_parts("chair", "stool")[:2]
        ['leg', 'seat']
    """

    def __init__(self, graph: nx.DiGraph | None = None):
        self.graph: nx.DiGraph = graph if graph is not None else nx.DiGraph()
        self._vocab: dict[str, list[str]] = {}

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_sources(
        cls, sources: Iterable[TaxonomySource], categories: dict[str, list[str]] | None = None
    ) -> PartHierarchy:
        """Build from taxonomy sources and a category tree (default: the bundled one)."""
        kb = cls()
        tree = category_tree() if categories is None else categories
        for cat, parents in tree.items():
            kb._add_node("category", cat, CATEGORY_SOURCE)
            for parent in parents:
                kb._add_edge(("category", cat), ("category", parent), "is_a", CATEGORY_SOURCE, 1.0)
        for src in sources:
            for obj, entry in src.objects.items():
                o = canonical(obj)
                kb._add_node("object", o, src.source)
                conf = src.confidence
                for part in entry.parts:
                    kb._add_edge(("object", o), ("part", canonical(part)), "has_part", src.source, conf)
                for cat in entry.categories():
                    kb._add_edge(("object", o), ("category", normalize(cat)), "is_a", src.source, conf)
            for part, subs in src.subparts.items():
                for sub in subs:
                    kb._add_edge(
                        ("part", canonical(part)),
                        ("part", canonical(sub)),
                        "has_part",
                        src.source,
                        src.confidence,
                    )
        return kb

    @classmethod
    def from_folder(cls, folder: str | Path) -> PartHierarchy:
        """Build from every taxonomy ``*.json`` in ``folder`` and the bundled category tree."""
        return cls.from_sources(load_sources(folder))

    @classmethod
    def default(cls) -> PartHierarchy:
        """The bundled knowledge base (loaded once; each call returns an independent copy).

        Merging into the returned hierarchy never changes what later calls return.
        """
        return cls(default_graph().copy())

    @classmethod
    def from_node_link(cls, data: dict[str, Any]) -> PartHierarchy:
        """Rebuild from :meth:`to_node_link` output."""
        return cls(nx.node_link_graph(data, directed=True, multigraph=False, edges="edges"))

    # -- building blocks ------------------------------------------------------------------------
    def _add_node(self, kind: str, name: str, source: str) -> str:
        n = node_id(kind, name)
        if n not in self.graph:
            self.graph.add_node(n, kind=kind, name=name, sources=[])
        if source not in self.graph.nodes[n]["sources"]:
            self.graph.nodes[n]["sources"] = sorted([*self.graph.nodes[n]["sources"], source])
        self._vocab.clear()
        return n

    def _add_edge(
        self, u: tuple[str, str], v: tuple[str, str], relation: str, source: str, confidence: float
    ) -> bool:
        """Add (or support) an edge; returns True when the edge is new."""
        a, b = self._add_node(*u, source), self._add_node(*v, source)
        if self.graph.has_edge(a, b):
            data = self.graph.edges[a, b]
            evidence = dict(data["evidence"])
            evidence[source] = max(confidence, evidence.get(source, 0.0))
            best = max(evidence.items(), key=lambda kv: (kv[1], kv[0] == data["source"]))
            data.update(evidence=evidence, sources=sorted(evidence), source=best[0], confidence=best[1])
            return False
        self.graph.add_edge(
            a,
            b,
            relation=relation,
            evidence={source: confidence},
            sources=[source],
            source=source,
            confidence=confidence,
        )
        return True

    # -- lookups --------------------------------------------------------------------------------
    def has_object(self, name: str) -> bool:
        """Whether ``name`` (any spelling, plural or synonym) is a known object."""
        return node_id("object", canonical(name)) in self.graph

    def objects(self) -> list[str]:
        """All object names, sorted."""
        return self.object_vocabulary()

    def object_vocabulary(self) -> list[str]:
        """Canonical object names, sorted."""
        return self._names("object")

    def part_vocabulary(self) -> list[str]:
        """Canonical part names (parts and subparts), sorted."""
        return self._names("part")

    def category_vocabulary(self) -> list[str]:
        """Category names, sorted."""
        return self._names("category")

    def sources(self) -> list[str]:
        """Names of the sources that support at least one has_part edge, sorted."""
        return sorted(
            {s for *_, d in self.graph.edges(data=True) if d["relation"] == "has_part" for s in d["sources"]}
        )

    def _names(self, kind: str) -> list[str]:
        if kind not in self._vocab:
            self._vocab[kind] = sorted(d["name"] for _, d in self.graph.nodes(data=True) if d["kind"] == kind)
        return list(self._vocab[kind])

    def _object_node(self, name: str) -> str:
        n = node_id("object", canonical(name))
        if n not in self.graph:
            raise UnknownObjectError(self.unknown_object_message(name))
        return n

    def unknown_object_message(self, name: str, suggestions: Sequence[str] | None = None) -> str:
        """A user-facing message for an unknown object, with close names from the vocabulary."""
        if suggestions is None:
            vocab = self.object_vocabulary()
            suggestions = difflib.get_close_matches(canonical(name), vocab, n=4, cutoff=0.6)
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        return (
            f"unknown object {name!r}: it is not in the knowledge base ({len(self.object_vocabulary())} "
            f"objects).{hint} Run `mereo graph --list` to see them all, or merge LMM-proposed parts with "
            "PartHierarchy.merge()."
        )

    def _check_sources(self, sources: Sequence[str] | None) -> set[str] | None:
        if sources is None:
            return None
        wanted = set(sources)
        unknown = wanted - set(self.sources())
        if unknown:
            raise ValidationError(f"unknown taxonomy source(s) {sorted(unknown)}; known: {self.sources()}")
        return wanted

    # -- queries --------------------------------------------------------------------------------
    def parts_of(
        self, obj: str, sources: Sequence[str] | None = None, *, subparts: bool = False
    ) -> list[str]:
        """The parts of an object, sorted.

        Args:
            obj: object name (any spelling known to the synonyms, singular or plural).
            sources: only parts supported by one of these sources; all sources by default (union).
            subparts: also include the subparts of those parts (transitively, from every source).

        Raises:
            UnknownObjectError: the object is not in the knowledge base.
            ValidationError: a source name is unknown.
        """
        wanted = self._check_sources(sources)
        n = self._object_node(obj)
        found: set[str] = set()
        frontier = [n]
        while frontier:
            u = frontier.pop()
            for _, v, d in self.graph.out_edges(u, data=True):
                if d["relation"] != "has_part":
                    continue
                if u == n and wanted is not None and not wanted & set(d["sources"]):
                    continue
                name = self.graph.nodes[v]["name"]
                if name not in found:
                    found.add(name)
                    if subparts:
                        frontier.append(v)
        return sorted(found)

    def shared_parts(self, a: str, b: str, sources: Sequence[str] | None = None) -> list[str]:
        """Parts both objects have, sorted."""
        return sorted(set(self.parts_of(a, sources)) & set(self.parts_of(b, sources)))

    def unique_parts(self, a: str, b: str, sources: Sequence[str] | None = None) -> list[str]:
        """Parts of ``a`` that ``b`` lacks, sorted."""
        return sorted(set(self.parts_of(a, sources)) - set(self.parts_of(b, sources)))

    def subparts_of(self, part: str) -> list[str]:
        """Direct subparts of a part (``"wheel" -> ["hub", "rim", "spoke", "tire"]``), sorted."""
        n = node_id("part", canonical(part))
        if n not in self.graph:
            return []
        return sorted(self.graph.nodes[v]["name"] for v in self.graph.successors(n))

    def objects_with(self, part: str) -> list[str]:
        """Objects that have ``part`` as a direct part, sorted."""
        n = node_id("part", canonical(part))
        if n not in self.graph:
            return []
        return sorted(
            self.graph.nodes[u]["name"]
            for u in self.graph.predecessors(n)
            if self.graph.nodes[u]["kind"] == "object"
        )

    def categories(self, obj: str) -> list[str]:
        """The categories of an object and all their ancestors, nearest first (then by name)."""
        n = self._object_node(obj)
        depth: dict[str, int] = {}
        frontier, level = [n], 0
        while frontier:
            level += 1
            nxt = []
            for u in frontier:
                for _, v, d in self.graph.out_edges(u, data=True):
                    if d["relation"] == "is_a" and v not in depth:
                        depth[v] = level
                        nxt.append(v)
            frontier = nxt
        return [self.graph.nodes[v]["name"] for v in sorted(depth, key=lambda v: (depth[v], v))]

    def provenance(self, obj: str, part: str) -> dict[str, float]:
        """Source -> confidence for the edge ``obj -has_part-> part`` (empty if there is none)."""
        u, v = self._object_node(obj), node_id("part", canonical(part))
        if not self.graph.has_edge(u, v):
            return {}
        return dict(self.graph.edges[u, v]["evidence"])

    # -- updates --------------------------------------------------------------------------------
    def merge(
        self,
        obj: str,
        proposals: Sequence[str],
        source: str,
        confidence: float,
        categories: Sequence[str] = (),
    ) -> list[str]:
        """Add proposed parts of an object (e.g. from an LMM, LangHOPS-style), with provenance.

        Names are normalised; a proposal that repeats the object name (``"chair legs"`` for a chair)
        is reduced to the part (``"leg"``). Existing edges keep their more confident source: the
        new source is only added to their evidence.

        Args:
            obj: the object, known or new.
            proposals: part names.
            source: who proposed them, e.g. ``"lmm:offline"``.
            confidence: in ``[0, 1]``.
            categories: optional categories the object is a kind of.

        Returns:
            The canonical names of parts that were new for this object, sorted.

        Raises:
            ValidationError: bad arguments (empty object name, confidence outside ``[0, 1]``).
        """
        try:
            req = MergeRequest(object=obj, proposals=list(proposals), source=source, confidence=confidence)
        except ValueError as e:
            raise ValidationError(f"invalid merge request for {obj!r}: {e}") from e
        o = canonical(req.object)
        self._add_node("object", o, req.source)
        added = set()
        for raw in req.proposals:
            part = canonical(raw)
            if part.startswith(o + " ") and len(part) > len(o) + 1:
                part = canonical(part[len(o) + 1 :])
            if not part or part == o:
                continue
            if self._add_edge(("object", o), ("part", part), "has_part", req.source, req.confidence):
                added.add(part)
        for cat in categories:
            self._add_edge(("object", o), ("category", normalize(cat)), "is_a", req.source, req.confidence)
        return sorted(added)

    # -- export ---------------------------------------------------------------------------------
    def subgraph(self, objects: Sequence[str]) -> nx.DiGraph:
        """A copy of the graph restricted to these objects, their parts, subparts and categories."""
        keep: set[str] = set()
        for obj in objects:
            n = self._object_node(obj)
            keep |= {n} | nx.descendants(self.graph, n)
        return self.graph.subgraph(keep).copy()

    def to_node_link(self, objects: Sequence[str] | None = None) -> dict[str, Any]:
        """networkx node-link JSON (``{"nodes": [...], "edges": [...], ...}``) of the graph or a subgraph."""
        g = self.graph if objects is None else self.subgraph(objects)
        return nx.node_link_data(g, edges="edges")

    def __repr__(self) -> str:
        n_obj, n_part = len(self.object_vocabulary()), len(self.part_vocabulary())
        return (
            f"PartHierarchy({n_obj} objects, {n_part} parts, {self.graph.number_of_edges()} edges, "
            f"sources={self.sources()})"
        )


def default_graph() -> nx.DiGraph:
    """The bundled hierarchy graph, built once per process. Treat it as read-only."""
    with _lock:
        return _build_default_graph()


@lru_cache(maxsize=1)
def _build_default_graph() -> nx.DiGraph:
    return PartHierarchy.from_sources(load_sources()).graph
