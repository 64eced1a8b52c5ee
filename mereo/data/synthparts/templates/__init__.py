"""The SynthParts category templates: object name -> :class:`Template` (supercategory, parts, builder).

Templates are small functions in ``furniture``, ``vehicles``, ``animals`` and ``household``; this
module lists them with the part labels each can draw. ``novel`` categories appear only in the
``novel`` split; their parts are all of kinds the training categories have.
"""

from __future__ import annotations

from mereo.data.synthparts.templates import animals, furniture, household, vehicles
from mereo.data.synthparts.templates.base import Parts, Template

_SPECS: list[tuple[str, str, str, object, bool]] = [
    # name, supercategory, parts (space separated), builder, novel
    ("chair", "furniture", "arm back leg seat stretcher", furniture.chair, False),
    ("armchair", "furniture", "arm back cushion leg seat", furniture.armchair, False),
    ("sofa", "furniture", "arm back cushion leg seat", furniture.sofa, False),
    ("stool", "furniture", "footrest leg seat", furniture.stool, False),
    ("bench", "furniture", "arm back leg seat", furniture.bench, False),
    ("table", "furniture", "apron drawer leg shelf top", furniture.table, False),
    ("bed", "furniture", "blanket footboard frame headboard leg mattress pillow", furniture.bed, False),
    ("car", "vehicle", "body bumper door headlight mirror roof taillight wheel window", vehicles.car, False),
    ("bus", "vehicle", "body bumper door headlight mirror wheel window", vehicles.bus, False),
    ("truck", "vehicle", "body bumper cab door headlight mirror wheel window", vehicles.truck, False),
    ("bicycle", "vehicle", "basket fork frame handlebar pedal saddle wheel", vehicles.bicycle, False),
    ("airplane", "vehicle", "body cockpit engine propeller tail window wing", vehicles.airplane, False),
    ("boat", "vehicle", "body cabin flag mast sail window", vehicles.boat, False),
    ("dog", "animal", "body ear eye head leg tail", animals.dog, False),
    ("cat", "animal", "body ear eye head leg tail", animals.cat, False),
    ("horse", "animal", "body ear eye head leg mane neck tail", animals.horse, False),
    ("cow", "animal", "body ear eye head horn leg neck tail udder", animals.cow, False),
    ("bird", "animal", "beak body eye head leg tail wing", animals.bird, False),
    ("fish", "animal", "body eye fin head tail", animals.fish, False),
    ("mug", "tableware", "base body handle rim", household.mug, False),
    ("cup", "tableware", "base body handle rim saucer", household.cup, False),
    ("bowl", "tableware", "base body rim", household.bowl, False),
    ("glass", "tableware", "base bowl rim stem", household.glass, False),
    ("kettle", "tableware", "base body handle knob lid spout", household.kettle, False),
    ("bottle", "household", "body cap label neck", household.bottle, False),
    ("vase", "household", "base body handle neck rim", household.vase, False),
    ("lamp", "household", "arm base bulb pipe shade", household.lamp, False),
    # held out: every part is of a kind some training category has
    ("ottoman", "furniture", "cushion leg seat", furniture.ottoman, True),
    ("van", "vehicle", "body bumper door headlight taillight wheel window", vehicles.van, True),
    ("goat", "animal", "body ear eye head horn leg neck tail", animals.goat, True),
    ("shark", "animal", "body eye fin head tail", animals.shark, True),
    ("teapot", "tableware", "base body handle knob lid spout", household.teapot, True),
]

CATEGORIES: dict[str, Template] = {
    name: Template(name, sup, tuple(sorted(parts.split())), build, novel)  # type: ignore[arg-type]
    for name, sup, parts, build, novel in _SPECS
}
TRAIN_CATEGORIES: tuple[str, ...] = tuple(n for n, t in CATEGORIES.items() if not t.novel)
NOVEL_CATEGORIES: tuple[str, ...] = tuple(n for n, t in CATEGORIES.items() if t.novel)
#: Every part label any template draws, sorted. Class ``i`` of a label map is ``PART_LABELS[i - 1]``
#: (0 is background).
PART_LABELS: tuple[str, ...] = tuple(sorted({p for t in CATEGORIES.values() for p in t.parts}))
SUPERCATEGORIES: tuple[str, ...] = tuple(sorted({t.supercategory for t in CATEGORIES.values()}))

__all__ = [
    "CATEGORIES",
    "NOVEL_CATEGORIES",
    "PART_LABELS",
    "SUPERCATEGORIES",
    "TRAIN_CATEGORIES",
    "Parts",
    "Template",
]
