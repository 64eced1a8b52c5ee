"""Object -> part knowledge: taxonomies with provenance, the hierarchy graph, name grounding."""

from mereo.knowledge.grounding import Grounding, ground
from mereo.knowledge.hierarchy import PartHierarchy
from mereo.knowledge.lexicon import broader, canonical
from mereo.knowledge.normalize import normalize

__all__ = ["Grounding", "PartHierarchy", "broader", "canonical", "ground", "normalize"]
