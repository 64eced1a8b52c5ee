"""The eval suites the runner knows, and backend presets.

Suites:
    ``synthparts-partonomy`` / ``synthparts-pairs`` / ``synthparts-multistep`` / ``synthparts-checks``:
        generated SynthParts questions of one suite (``--split``, ``--limit``, ``--seed``).
    ``agent``: a mix of the four SynthParts suites in equal parts (300 questions by default).
    ``partonomy-core PATH``: a Partonomy-Core JSON file (images relative to it).
    ``mixedparts PATH --images ROOT``: a MixedParts JSON file and the folder of its source images.
    ``items PATH``: a JSON or JSONL file of :class:`~mereo.data.items.QAItem` dicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mereo.config import PRESETS
from mereo.data.items import QAItem
from mereo.errors import DatasetError, QuestionError

SYNTH = {
    "synthparts-partonomy": "partonomy",
    "synthparts-pairs": "pairs",
    "synthparts-multistep": "multistep",
    "synthparts-checks": "checks",
}
FILE_SUITES = ("partonomy-core", "mixedparts", "items")
SUITE_NAMES = ("agent", *SYNTH, *FILE_SUITES)
#: ``mereo eval agent`` asks this many questions unless ``--limit`` says otherwise.
AGENT_DEFAULT_N = 300
SYNTH_DEFAULT_N = 200

ORACLE_BACKENDS = PRESETS["oracle"]
BLIND_BACKENDS = PRESETS["blind"]


def parse_backends(pairs: list[str] | None, preset: str = "default") -> dict[str, str]:
    """Backends of a preset with ``k=v`` overrides applied (``["segment=oracle", "lmm=blind"]``).

    Raises:
        QuestionError: an unknown preset, family, or a pair without ``=``.
    """
    if preset not in PRESETS:
        raise QuestionError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    out = dict(PRESETS[preset])
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not value:
            raise QuestionError(f"--backend takes family=name pairs (e.g. segment=oracle), got {pair!r}")
        if key not in out:
            raise QuestionError(f"unknown backend family {key!r} in {pair!r}; families: {', '.join(out)}")
        out[key] = value
    return out


def _loader(name: str) -> Any:
    """A loader function of :mod:`mereo.data.datasets` (imported when first needed)."""
    from mereo.data import datasets

    fn = getattr(datasets, name, None)
    if fn is None:  # pragma: no cover - the loaders ship with the package
        raise DatasetError(f"mereo.data.datasets has no {name}(); this install is incomplete")
    return fn


def _synth(suite: str, split: str, n: int, seed: int) -> list[QAItem]:
    return list(_loader("load_synthparts")(split, n, seed=seed, suite=suite))


def _read_items(path: Path) -> list[QAItem]:
    if not path.exists():
        raise DatasetError(f"items file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix == ".jsonl":
            raw: list[Any] = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            raw = data["items"] if isinstance(data, dict) else data
        items = [QAItem.model_validate(r) for r in raw]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{path} is not a JSON list of QA items: {e}") from e
    for it in items:
        for im in it.images:
            if not Path(im.path).is_absolute():
                im.path = str((path.parent / im.path).resolve())
    return items


def load_suite(
    suite: str,
    split: str = "test",
    limit: int | None = None,
    seed: int = 0,
    path: str | None = None,
    images_root: str | None = None,
) -> list[QAItem]:
    """The items of a suite (see the module docstring), at most ``limit`` of them.

    Raises:
        QuestionError: an unknown suite, or a file suite without its PATH.
        DatasetError: the dataset files are missing or malformed.
    """
    if suite not in SUITE_NAMES:
        raise QuestionError(f"unknown eval suite {suite!r}; choose from {', '.join(SUITE_NAMES)}")
    if suite in SYNTH:
        return _synth(SYNTH[suite], split, limit or SYNTH_DEFAULT_N, seed)
    if suite == "agent":
        n = limit or AGENT_DEFAULT_N
        k = len(SYNTH)
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        items: list[QAItem] = []
        for s, size in zip(SYNTH.values(), sizes, strict=True):
            if size:
                items += _synth(s, split, size, seed)
        return items
    if not path:
        raise QuestionError(
            f"the {suite} suite needs the dataset file: mereo eval {suite} PATH"
            + (" --images ROOT" if suite == "mixedparts" else "")
        )
    p = Path(path)
    if suite == "items":
        items = _read_items(p)
    elif suite == "partonomy-core":
        items = list(_loader("load_partonomy")(p, images_root))
    else:
        if not images_root:
            raise QuestionError("mixedparts needs the folder of its source images: --images ROOT")
        items = list(_loader("load_mixedparts")(p, images_root))
    return items[:limit] if limit else items
