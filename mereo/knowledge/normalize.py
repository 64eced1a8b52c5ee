"""Lexical normalisation of object and part names: case, articles, punctuation and plurals.

``normalize("The chair's Legs!") == "chair leg"``. Only the head noun of a phrase is made
singular (the last word, or the word before ``of``: ``"chests of drawers" -> "chest of drawers"``).
Synonyms (``tyre`` / ``tire``) are not handled here but by :mod:`mereo.knowledge.lexicon`.

This is the lexical step of :func:`mereo.knowledge.canonical`, the one name normaliser the rest
of Mereo uses; call ``normalize`` directly only inside the knowledge base (building the synonym
table, which ``canonical`` itself reads).
"""

from __future__ import annotations

import re

ARTICLES = frozenset(
    {"a", "an", "the", "some", "its", "their", "his", "her", "this", "that", "these", "those"}
)

#: Irregular plurals (plural -> singular).
IRREGULAR = {
    "feet": "foot",
    "teeth": "tooth",
    "geese": "goose",
    "mice": "mouse",
    "men": "man",
    "women": "woman",
    "children": "child",
    "people": "person",
    "oxen": "ox",
    "leaves": "leaf",
    "knives": "knife",
    "wives": "wife",
    "lives": "life",
    "shelves": "shelf",
    "wolves": "wolf",
    "halves": "half",
    "calves": "calf",
    "hooves": "hoof",
    "loaves": "loaf",
    "scarves": "scarf",
    "thieves": "thief",
    "dice": "die",
    "lenses": "lens",
    "buses": "bus",
    "gases": "gas",
    "axes": "axis",
    "cacti": "cactus",
    "fungi": "fungus",
    "indices": "index",
    "vertices": "vertex",
    "matrices": "matrix",
    "octopi": "octopus",
    "tomatoes": "tomato",
    "potatoes": "potato",
    "heroes": "hero",
    "echoes": "echo",
    "torpedoes": "torpedo",
    "volcanoes": "volcano",
    "pianos": "piano",
    "radii": "radius",
    "criteria": "criterion",
    "phenomena": "phenomenon",
    "antennae": "antenna",
    "larvae": "larva",
    "movies": "movie",
    "cookies": "cookie",
    "pies": "pie",
    "ties": "tie",
    "skis": "ski",
    "taxis": "taxi",
}

#: Words that end like plurals but are not (or have no singular in everyday use).
INVARIANT = frozenset(
    {
        "bus",
        "glass",
        "pass",
        "grass",
        "class",
        "gas",
        "lens",
        "iris",
        "pelvis",
        "chassis",
        "axis",
        "canvas",
        "atlas",
        "bias",
        "news",
        "series",
        "species",
        "sheep",
        "fish",
        "swine",
        "deer",
        "moose",
        "bison",
        "aircraft",
        "scissors",
        "pliers",
        "tongs",
        "trousers",
        "pants",
        "jeans",
        "shorts",
        "binoculars",
        "goggles",
        "headphones",
        "tweezers",
        "clothes",
        "this",
        "its",
        "his",
        "yes",
        "plus",
        "cactus",
        "octopus",
        "fungus",
        "hippopotamus",
        "platypus",
        "walrus",
        "citrus",
        "abacus",
        "campus",
        "status",
        "corpus",
        "virus",
        "tennis",
        "chess",
        "dress",
        "mattress",
        "compass",
        "harness",
        "cross",
        "boss",
        "moss",
        "press",
        "process",
        "bypass",
        "wireless",
        "physics",
        "mathematics",
        "electronics",
        "headquarters",
        "means",
        "crossroads",
        "barracks",
        "gallows",
        "innings",
        "whereabouts",
        "thermos",
        "bellows",
        "always",
        "mumps",
        "measles",
        "rabies",
        "diabetes",
        "kudos",
        "chaos",
        "cosmos",
        "pathos",
        "asbestos",
        "herpes",
        "billiards",
        "darts",
        "dominoes",
        "premises",
        "stairs",
        "overalls",
    }
)

_PUNCT = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")


def singularize(word: str) -> str:
    """The singular of one lower-case English noun (a small rule set with exceptions).

    Args:
        word: one lower-case word, e.g. ``"wheels"``.

    Returns:
        ``"wheel"``; unchanged when the word is not a recognised plural (``"bus"``, ``"glass"``).
    """
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word in INVARIANT or len(word) <= 3 or not word.endswith("s"):
        return word
    if word.endswith(("ss", "us", "is")):
        return word  # glass, cactus, iris: not plurals
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"  # batteries -> battery
    if word.endswith(("sses", "xes", "zzes", "ches", "shes")):
        return word[:-2]  # glasses -> glass, boxes -> box, benches -> bench, brushes -> brush
    return word[:-1]  # legs -> leg, tires -> tire, spokes -> spoke, keys -> key


def _head_index(words: list[str]) -> int:
    if "of" in words[1:]:
        return words.index("of", 1) - 1
    return len(words) - 1


def normalize(name: str) -> str:
    """Normalise an object or part name for matching.

    Lower-cases, turns ``_``/``-`` and punctuation into spaces, drops the possessive ``'s``, leading
    articles and determiners, and makes the head noun singular.

    Args:
        name: any phrase, e.g. ``"The Chair's Legs"`` or ``"landing_gear"``.

    Returns:
        The normalised phrase (``"chair leg"``, ``"landing gear"``); ``""`` if nothing is left.
    """
    text = name.lower().replace("\u2019", "'")
    text = re.sub(r"'s\b", "", text)
    text = _PUNCT.sub(" ", text.replace("_", " "))
    words = _SPACE.sub(" ", text).strip().split(" ")
    while words and words[0] in ARTICLES and len(words) > 1:
        words = words[1:]
    words = [w for w in words if w]
    if not words:
        return ""
    i = _head_index(words)
    words[i] = singularize(words[i])
    return " ".join(words)
