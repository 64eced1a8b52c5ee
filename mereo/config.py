"""Which backend each tool family and the LMM use, plus the agent's cache and checkpointer settings.

A config is a small pydantic model; it loads from YAML or JSON (``load_config``) and every field
can also be passed to :class:`mereo.PartAgent` as a keyword. Backend names follow
``"<name>"`` or ``"<name>:<argument>"`` (``"dinov2:/models/dinov2-base"``, ``"openai:gpt-4o-mini"``).

Example:
    >>> cfg = MereoConfig(segment="oracle")
    >>> cfg.segment, cfg.lmm
    ('oracle', 'offline')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from mereo.errors import ValidationError

#: The embedded default: the offline planner and the heads of the shared encoder (``synthparts-cnn``,
#: one small CNN trained on SynthParts and read by every tool family).
DEFAULT_BACKENDS: dict[str, str] = {
    "lmm": "offline",
    "segment": "synthparts-cnn",
    "coseg": "synthparts-cnn",
    "correspond": "synthparts-cnn",
    "recognize": "synthparts-cnn",
}
#: The earlier embedded default: one small encoder per tool (PLUM-, Calico-, DINOv2- and CLIP-style).
SMALL_TOOLS: dict[str, str] = {
    "lmm": "offline",
    "segment": "plum-small",
    "coseg": "calico-small",
    "correspond": "dinov2-small",
    "recognize": "clip-small",
}

#: Named backend combinations: ``PartAgent.preset(name)``, ``mereo ask --preset``, ``mereo eval --preset``.
#: ``photos`` and ``photos-hosted`` need published weights on disk (see ``docs``: Real images);
#: ``oracle`` needs gold masks (evals fill them); ``blind`` is an eval baseline (no image evidence).
PRESETS: dict[str, dict[str, str]] = {
    "default": dict(DEFAULT_BACKENDS),
    "oracle": {
        **DEFAULT_BACKENDS,
        "segment": "oracle",
        "coseg": "oracle",
        "correspond": "oracle",
        "recognize": "oracle",
    },
    "blind": {**DEFAULT_BACKENDS, "lmm": "blind"},
    # the shared encoder's heads: the default since session 7 (the name is kept for old scripts)
    "shared-encoder": dict(DEFAULT_BACKENDS),
    # the per-tool small encoders, the default before session 7 (for ablations)
    "small-tools": dict(SMALL_TOOLS),
    "photos": {
        "lmm": "transformers:Qwen/Qwen2.5-VL-3B-Instruct",
        "segment": "sam3:facebook/sam3",
        "coseg": "per-image",
        "correspond": "dinov2:facebook/dinov2-base",
        "recognize": "owlv2:google/owlv2-base-patch16-ensemble",
    },
    "photos-hosted": {
        "lmm": "openai:gpt-4o-mini",
        "segment": "sam3:facebook/sam3",
        "coseg": "per-image",
        "correspond": "dinov2:facebook/dinov2-base",
        "recognize": "owlv2:google/owlv2-base-patch16-ensemble",
    },
}


def preset_backends(name: str) -> dict[str, str]:
    """The backends of a preset (a copy).

    Raises:
        ValidationError: an unknown preset; the message lists the known ones.
    """
    if name not in PRESETS:
        raise ValidationError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return dict(PRESETS[name])


#: Tool families whose backends come from ``mereo.tools.<family>.REGISTRY``.
TOOL_FAMILIES: tuple[str, ...] = ("segment", "coseg", "correspond", "recognize")


class MereoConfig(BaseModel):
    """The agent's configuration.

    Attributes:
        lmm: planner backend: ``"offline"`` or ``"openai:<model>"``.
        segment, coseg, correspond, recognize: tool backend names (see ``list_backends()``).
            ``correspond`` may be ``"none"`` to switch the feature check off.
        use_coseg: answer two-image common/unique questions with the co-segmenter when True,
            else with the single-image segmenter plus set algebra.
        coseg_named: also use the co-segmenter for common/unique part questions about two named
            objects. False (the default): those are answered by segmenting each named object's
            knowledge-base parts and the set algebra, which measured better with the embedded
            tools (``mereo eval agent --split test``: answer F1 69.2 vs 60.7); the co-segmenter
            then answers the common-object questions.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        cache_items: entries of the shared image-feature cache.
        checkpointer: ``None`` for an in-memory conversation store, or a SQLite file path.
        match_threshold: cosine similarity above which two parts' features agree; None (the
            default) uses the correspondence backend's own threshold (dinov2-small's is calibrated
            on SynthParts val and stored in its manifest; other backends use 0.5).
        lmm_timeout_s: seconds per LMM request; ``lmm_retries``: retries with backoff.
        examine: show each candidate part mask to the LMM to accept or reject (the SAM 3 Agent's
            "examine each mask"); ``None`` (default): on for a hosted LMM, off for ``offline``.
        verify: check the tools' results (object presence, part thresholds, image statistics)
            before the set algebra; ``False`` passes them on unchecked.
    """

    model_config = ConfigDict(extra="forbid")

    lmm: str = DEFAULT_BACKENDS["lmm"]
    segment: str = DEFAULT_BACKENDS["segment"]
    coseg: str = DEFAULT_BACKENDS["coseg"]
    correspond: str = DEFAULT_BACKENDS["correspond"]
    recognize: str = DEFAULT_BACKENDS["recognize"]
    use_coseg: bool = True
    coseg_named: bool = False
    device: str = "auto"
    cache_items: int = Field(default=256, ge=1)
    checkpointer: str | None = None
    match_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    lmm_timeout_s: float = Field(default=60.0, gt=0)
    lmm_retries: int = Field(default=2, ge=0, le=10)
    examine: bool | None = None
    verify: bool = True

    def backends(self) -> dict[str, str]:
        """The backend name of the LMM and of each tool family."""
        return {"lmm": self.lmm, **{f: getattr(self, f) for f in TOOL_FAMILIES}}


def make_config(base: MereoConfig | None = None, **overrides: Any) -> MereoConfig:
    """A config from ``base`` (or the defaults) with the non-None ``overrides`` applied.

    Raises:
        ValidationError: an unknown key or a value of the wrong type.
    """
    data = (base or MereoConfig()).model_dump()
    unknown = sorted(k for k in overrides if k not in MereoConfig.model_fields)
    if unknown:
        known = sorted(MereoConfig.model_fields)
        raise ValidationError(f"unknown config option(s) {unknown}; known: {known}")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return MereoConfig(**data)
    except PydanticValidationError as e:
        raise ValidationError(f"invalid Mereo config: {e}") from e


def load_config(path: str | Path) -> MereoConfig:
    """Read a config from a ``.yaml``/``.yml`` or ``.json`` file.

    Raises:
        ValidationError: the file is missing, unreadable, or has unknown or invalid options.
    """
    p = Path(path)
    if not p.exists():
        raise ValidationError(f"config file not found: {p}")
    text = p.read_text()
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except Exception as e:  # yaml and json raise different types
        raise ValidationError(f"{p} is not valid {p.suffix.lstrip('.').upper() or 'JSON'}: {e}") from e
    if not isinstance(data, dict):
        raise ValidationError(f"{p} must hold a mapping of options, got {type(data).__name__}")
    return make_config(None, **data)
