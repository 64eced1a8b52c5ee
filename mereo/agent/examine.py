"""The examine step (the SAM 3 Agent's "examine each mask"): a hosted LMM accepts or rejects each
candidate part mask, shown drawn on its image.

Each mask is drawn on its image (:func:`mereo.agent.answer.overlay`: the region in colour, the
rest dimmed) and sent with the part and object names. A rejected mask is dropped; a reply that
stays malformed after the LMM's repair round leaves the tools' decision in place, with a note.
Every verdict is a :class:`~mereo.agent.verify.Check` for the trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mereo.agent.answer import overlay
from mereo.agent.verify import Check
from mereo.errors import InvalidLMMResponseError
from mereo.types import ImageRef, PartMask

#: At most this many masks are shown to the LMM per question (the rest keep the tools' decision).
MAX_EXAMINED = 24
HIGHLIGHT = (255, 0, 0)


def can_examine(lmm: Any) -> bool:
    """Whether the LMM backend has an ``examine`` method (hosted ones do; ``offline`` does not)."""
    return callable(getattr(lmm, "examine", None))


def picture(pm: PartMask, image: ImageRef) -> ImageRef:
    """The image with ``pm``'s mask highlighted, as an image the LMM is sent."""
    return ImageRef(overlay([pm], image, {pm.label: HIGHLIGHT}, title=f"{pm.label}?"))


def examine_parts(
    lmm: Any, images: Sequence[ImageRef], parts: Sequence[PartMask], question: str = ""
) -> tuple[list[PartMask], list[Check]]:
    """Ask the LMM about each part mask; keep those it accepts.

    Args:
        lmm: a backend with ``examine(picture, label, obj, question) -> (accept, reason)``.
        images: the question's images (``PartMask.image_index`` indexes them).
        parts: candidate part masks (object masks pass unexamined).

    Returns:
        The kept masks and one check per examined mask.
    """
    kept: list[PartMask] = []
    checks: list[Check] = []
    shown = 0
    for pm in parts:
        if pm.kind != "part" or shown >= MAX_EXAMINED:
            kept.append(pm)
            continue
        shown += 1
        subject = f"{pm.label} of the {pm.object or 'object'} in image {pm.image_index + 1}"
        try:
            accept, reason = lmm.examine(
                picture(pm, images[pm.image_index]), pm.label, pm.object or "", question
            )
        except InvalidLMMResponseError as e:
            checks.append(
                Check(
                    "examine",
                    subject,
                    pm.score,
                    0.0,
                    True,
                    "kept: the LMM's reply was unusable, the tools' decision stands",
                    details={"error": str(e)[:300]},
                )
            )
            kept.append(pm)
            continue
        checks.append(
            Check(
                "examine",
                subject,
                1.0 if accept else 0.0,
                0.5,
                accept,
                "kept" if accept else "dropped",
                details={"reason": reason[:300]},
            )
        )
        if accept:
            kept.append(pm)
    return kept, checks
