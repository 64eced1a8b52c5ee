"""The agent's answer: text tied to part masks, the plan, the hierarchy graph and the trace.

``Answer.save(out_dir)`` writes one overlay PNG per image (masks coloured by label, with a
legend), ``answer.json`` and a self-contained ``trace.html``.
"""

from __future__ import annotations

import html
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mereo.plan import Plan
from mereo.types import ImageRef, PartMask

#: Distinct overlay colours (RGB), cycled by label.
PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
]


#: node-link JSON keys; edges carry their own "source" attribute (provenance), so the endpoints
#: are stored under "from" / "to"
NODE_LINK: dict[str, str] = {"edges": "edges", "source": "from", "target": "to"}


@dataclass
class Step:
    """One step of the graph's run.

    Attributes:
        node: the graph node (``"understand"``, ``"segment"``, ...).
        tool: the tool family or ``"lmm"``/``"kb"``/``None``.
        backend: the backend name that ran (``"oracle"``, ``"plum-small"``), if any.
        inputs, outputs: small JSON-ready summaries (never arrays).
        seconds: wall time of the step.
        cache_hit: whether the image features came from the shared cache (``None``: not used).
        notes: what the tools noted during the step (``ToolContext.note``), e.g.
            ``{"tool": "segment", "what": "image embedding", "cache": "hit"}``.
    """

    node: str
    tool: str | None = None
    backend: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    cache_hit: bool | None = None
    notes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "tool": self.tool,
            "backend": self.backend,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "seconds": round(self.seconds, 4),
            "cache_hit": self.cache_hit,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(
            node=str(d.get("node", "")),
            tool=d.get("tool"),
            backend=d.get("backend"),
            cache_hit=d.get("cache_hit"),
            inputs=d.get("inputs") or {},
            outputs=d.get("outputs") or {},
            seconds=d.get("seconds", 0.0),
            notes=list(d.get("notes") or []),
        )


@dataclass
class Answer:
    """What :meth:`mereo.PartAgent.ask` returns.

    Attributes:
        question: the question.
        text: the answer in words.
        labels: sorted unique labels of the answer (part names; object names for object answers).
        parts: the answer's masks (``image_index`` into the question's images).
        plan: the validated plan.
        graph: the object-part hierarchy used (networkx DiGraph, see :mod:`mereo.knowledge.hierarchy`).
        trace: the steps, in order.
        kind: ``"parts"`` or ``"objects"``.
        notes: remarks (features that disagree, parts whose names differ but match, objects not found).
        matches: parts that look alike across images although named differently.
        images: the images, for :meth:`save`.
        seconds: wall time of the whole question.
        value: the yes/no (``exists``) or the number (``count``) asked for; None for set answers
            and when an object it depends on could not be found.
        not_found: the named objects the agent could not find: ``{"object", "image", "reason"}``.
        confidence: how likely the answer is right, in ``[0, 1]`` (calibrated on SynthParts val
            for the default backends); label_confidence: the same per answer label.
        confidence_raw, label_confidence_raw: the evidence before calibration.
    """

    question: str
    text: str
    labels: list[str]
    parts: list[PartMask]
    plan: Plan
    graph: nx.DiGraph
    trace: list[Step]
    kind: str = "parts"
    notes: list[str] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    images: list[ImageRef] = field(default_factory=list, repr=False)
    seconds: float = 0.0
    value: bool | int | None = None
    not_found: list[dict[str, Any]] = field(default_factory=list)
    confidence: float = 0.0
    label_confidence: dict[str, float] = field(default_factory=dict)
    confidence_raw: float | None = None
    label_confidence_raw: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: masks as COCO RLE, the graph as node-link JSON."""
        return {
            "question": self.question,
            "text": self.text,
            "labels": self.labels,
            "kind": self.kind,
            "parts": [p.model_dump(mode="json") for p in self.parts],
            "plan": self.plan.model_dump(mode="json"),
            "graph": nx.node_link_data(self.graph, **NODE_LINK),
            "trace": [s.to_dict() for s in self.trace],
            "notes": self.notes,
            "matches": self.matches,
            "value": self.value,
            "not_found": self.not_found,
            "confidence": self.confidence,
            "label_confidence": self.label_confidence,
            "seconds": round(self.seconds, 4),
            "images": [im.name for im in self.images],
        }

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``image<k>.png`` overlays, ``answer.json`` and ``trace.html`` into ``out_dir``.

        Returns:
            The paths written.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(self.labels)}
        written = []
        for k, image in enumerate(self.images):
            path = out / f"image{k + 1}.png"
            overlay(
                [p for p in self.parts if p.image_index == k],
                image,
                colours,
                title=f"image {k + 1}: {self.text}",
            ).save(path)
            written.append(path)
        (out / "answer.json").write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        (out / "trace.html").write_text(trace_html(self))
        return [*written, out / "answer.json", out / "trace.html"]

    def __str__(self) -> str:
        return self.text


def overlay(
    parts: list[PartMask],
    image: ImageRef,
    colours: dict[str, tuple[int, int, int]],
    title: str = "",
    alpha: float = 0.6,
) -> Image.Image:
    """The image with each part's mask blended in its label colour, a legend strip and a title.

    Args:
        parts: masks in this image's pixel frame.
        image: the ``H x W x 3`` image.
        colours: label -> RGB.
        alpha: mask opacity in ``[0, 1]``.

    Returns:
        An RGB PIL image, ``(H + legend) x max(W, 320)``, upscaled 2x for small images.
    """
    base = image.array.astype(np.float32)
    masks = [(p, p.mask.to_numpy()) for p in parts]
    masks = [(p, m) for p, m in masks if m.shape == base.shape[:2]]
    if masks:  # dim everything outside the answer so the masks stand out
        inside = np.logical_or.reduce([m for _, m in masks])
        base[~inside] = 0.35 * base[~inside] + 0.65 * 128.0
    for p, m in masks:
        col = np.array(colours.get(p.label, (255, 255, 255)), dtype=np.float32)
        base[m] = (1 - alpha) * base[m] + alpha * col
        edge = m & ~_erode(m)
        base[edge] = col
    im = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    if max(im.size) < 256:
        im = im.resize((im.width * 2, im.height * 2), Image.Resampling.NEAREST)
    labels = list(dict.fromkeys(p.label for p in parts))
    row_h, width = 16, max(im.width, 320)
    lines = textwrap.wrap(title, width=max(20, width // 7))[:4]
    canvas = Image.new("RGB", (width, im.height + row_h * (len(labels) + len(lines) + 1)), (255, 255, 255))
    canvas.paste(im, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = _font()
    y = im.height + 2 - row_h
    for line in lines:
        y += row_h
        draw.text((4, y), line, fill=(0, 0, 0), font=font)
    for label in labels:
        y += row_h
        draw.rectangle([4, y + 2, 16, y + 12], fill=colours.get(label, (255, 255, 255)), outline=(0, 0, 0))
        draw.text((22, y), label, fill=(0, 0, 0), font=font)
    if not labels:
        draw.text((4, y + row_h), "(no answer masks in this image)", fill=(90, 90, 90))
    return canvas


def _font() -> Any:
    """Pillow's bundled scalable font when available (Pillow >= 10.1), else its bitmap font."""
    try:
        return ImageFont.load_default(size=12)
    except TypeError:  # pragma: no cover - old Pillow
        return ImageFont.load_default()


def _erode(m: np.ndarray) -> np.ndarray:
    """One-pixel binary erosion of an ``H x W`` bool mask (4-neighbourhood)."""
    out = m.copy()
    out[1:, :] &= m[:-1, :]
    out[:-1, :] &= m[1:, :]
    out[:, 1:] &= m[:, :-1]
    out[:, :-1] &= m[:, 1:]
    return out


def _per_label(answer: Answer) -> str:
    if not answer.label_confidence:
        return ""
    return " (" + ", ".join(f"{k} {v:.2f}" for k, v in answer.label_confidence.items()) + ")"


def trace_html(answer: Answer) -> str:
    """A self-contained HTML page: question, answer, plan, and one table row per step."""
    esc = html.escape
    rows = "\n".join(
        f"<tr><td>{i}</td><td>{esc(s.node)}</td><td>{esc(str(s.tool or ''))}</td>"
        f"<td>{esc(str(s.backend or ''))}</td><td>{s.seconds:.3f}</td>"
        f"<td>{'' if s.cache_hit is None else s.cache_hit}</td>"
        f"<td><pre>{esc(json.dumps(s.inputs, indent=1)[:2000])}</pre></td>"
        f"<td><pre>{esc(json.dumps(s.outputs, indent=1)[:2000])}</pre></td>"
        f"<td>{_notes_html(s.notes)}</td></tr>"
        for i, s in enumerate(answer.trace)
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in answer.notes)
    plan = esc(json.dumps(answer.plan.to_gold_format(), indent=1))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Mereo trace</title>
<style>body{{font-family:sans-serif;margin:1em}}td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}
table{{border-collapse:collapse}}pre{{margin:0;font-size:11px}}</style></head><body>
<h2>{esc(answer.question)}</h2><p><b>{esc(answer.text)}</b></p><p>labels: {esc(", ".join(answer.labels))}</p>
<p>confidence: {answer.confidence:.2f}{esc(_per_label(answer))}</p>
<ul>{notes}</ul><h3>Plan</h3><pre>{plan}</pre><h3>Trace ({answer.seconds:.2f} s)</h3>
<table><tr><th>#</th><th>node</th><th>tool</th><th>backend</th><th>s</th><th>cache hit</th><th>inputs</th>
<th>outputs</th><th>tool notes</th></tr>
{rows}</table></body></html>
"""


def _notes_html(notes: list[dict[str, Any]]) -> str:
    """One line per tool note: ``key=value`` pairs, escaped."""
    lines = [", ".join(f"{k}={v}" for k, v in n.items()) for n in notes]
    return "<br>".join(html.escape(line) for line in lines)
