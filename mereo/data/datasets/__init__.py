"""Dataset loaders: real Partonomy-Core, MixedParts and COCO-style part files, and SynthParts.

Every loader returns :class:`~mereo.data.items.QAItem` (or :class:`GoldImage` for plain COCO
annotations), so the same evals run on real and generated data. One module per format:

- :mod:`~mereo.data.datasets.partonomy`: Partonomy-Core QA records (:func:`load_partonomy`).
- :mod:`~mereo.data.datasets.mixedparts`: MixedParts pair samples (:func:`load_mixedparts`).
- :mod:`~mereo.data.datasets.coco`: COCO part annotations (:func:`load_coco_parts`).
- :mod:`~mereo.data.datasets.native`: QAItem JSON lines (:func:`load_items`) and SynthParts
  questions generated in memory (:func:`load_synthparts`).

Segmentations may be COCO polygons or RLE (compressed or not). Part and object names are put in
the knowledge base's canonical form (:func:`mereo.knowledge.canonical`: ``"wings"`` ->
``"wing"``), so they compare with the agent's names.

Example:
    >>> items = load_synthparts("test", 20, seed=0, suite="pairs")  # doctest: +SKIP
    >>> items = load_partonomy("partonomy_core/test.json")  # doctest: +SKIP
"""

from __future__ import annotations

from mereo.data.datasets.coco import load_coco_parts
from mereo.data.datasets.mixedparts import PAIR_TASKS, load_mixedparts
from mereo.data.datasets.native import load_items, load_synthparts, synthparts_cache_dir
from mereo.data.datasets.partonomy import PARTONOMY_TYPES, load_partonomy

__all__ = [
    "PAIR_TASKS",
    "PARTONOMY_TYPES",
    "load_coco_parts",
    "load_items",
    "load_mixedparts",
    "load_partonomy",
    "load_synthparts",
    "synthparts_cache_dir",
]
