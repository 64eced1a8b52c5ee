"""Object -> part knowledge: taxonomies with provenance, the hierarchy graph, name grounding.

:func:`canonical` is Mereo's one name normaliser: every object or part name is compared in its
canonical form (``canonical("The Tyres") == "tire"``). Its lexical step,
:func:`mereo.knowledge.normalize.normalize` (case, articles, punctuation, plurals, no synonyms),
is internal to the knowledge base, which needs it to build the synonym table.
"""

from mereo.knowledge.grounding import Grounding, ground
from mereo.knowledge.hierarchy import PartHierarchy
from mereo.knowledge.lexicon import broader, canonical

__all__ = ["Grounding", "PartHierarchy", "broader", "canonical", "ground"]
