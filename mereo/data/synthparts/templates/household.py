"""Tableware and household templates, seen from the side: mugs, cups, bowls, kettles, lamps, ..."""

from __future__ import annotations

import math

import numpy as np

from mereo.data.synthparts.draw import arc, box, curve, ellipse, line, poly, rect
from mereo.data.synthparts.templates.base import Parts, chance, u


def _handle(rng: np.random.Generator, x: float, y: float, h: float, side: int, width: float) -> Parts:
    """A C-shaped handle on the ``side`` (+1 right, -1 left) of a body edge at ``x``."""
    start, end = (-math.pi / 2, math.pi / 2) if side > 0 else (math.pi / 2, 3 * math.pi / 2)
    return [("handle", arc(x, y, u(rng, 0.2, 0.3), h / 2, start, end, width))]


def mug(rng: np.random.Generator) -> Parts:
    w, top, bot = u(rng, 0.5, 0.75), u(rng, -0.8, -0.6), u(rng, 0.6, 0.8)
    out = _handle(rng, w, (top + bot) / 2, (bot - top) * u(rng, 0.5, 0.75), 1, u(rng, 0.08, 0.14))
    out.append(("body", box(-w, top, w, bot)))
    out.append(("rim", box(-w - 0.02, top - 0.04, w + 0.02, top + u(rng, 0.05, 0.09))))
    if chance(rng, 0.4):
        out.append(("base", box(-w, bot - 0.08, w, bot)))
    return out


def cup(rng: np.random.Generator) -> Parts:
    w, top, bot = u(rng, 0.55, 0.75), u(rng, -0.5, -0.3), u(rng, 0.35, 0.5)
    out = _handle(rng, w * 0.8, (top + bot) / 2 - 0.05, (bot - top) * 0.5, 1, u(rng, 0.06, 0.1))
    if chance(rng, 0.5):
        out.append(("saucer", ellipse(0.0, bot + 0.1, w + u(rng, 0.2, 0.35), 0.08)))
    out.append(("base", box(-w * 0.35, bot - 0.02, w * 0.35, bot + 0.07)))
    out.append(("body", poly([(-w, top), (w, top), (w * 0.5, bot), (-w * 0.5, bot)])))
    out.append(("rim", ellipse(0.0, top, w + 0.02, u(rng, 0.05, 0.1))))
    return out


def bowl(rng: np.random.Generator) -> Parts:
    w, top = u(rng, 0.85, 1.0), u(rng, -0.35, -0.15)
    depth = u(rng, 0.45, 0.7)
    out: Parts = [("base", box(-w * 0.3, top + depth - 0.05, w * 0.3, top + depth + u(rng, 0.06, 0.12)))]
    out.append(("body", ellipse(0.0, top, w, depth, start=0.0, end=math.pi)))
    out.append(("rim", ellipse(0.0, top, w + 0.02, u(rng, 0.06, 0.12))))
    return out


def glass(rng: np.random.Generator) -> Parts:
    w, top = u(rng, 0.35, 0.5), u(rng, -0.95, -0.8)
    bowl_h = u(rng, 0.6, 0.9)
    sb = top + bowl_h
    out: Parts = [("stem", rect(0.0, (sb + 0.85) / 2, u(rng, 0.05, 0.09), 0.85 - sb + 0.05))]
    out.append(("base", ellipse(0.0, 0.87, u(rng, 0.3, 0.4), 0.07)))
    out.append(
        (
            "bowl",
            poly(
                [
                    (-w, top),
                    (w, top),
                    (w * 0.9, top + bowl_h * 0.6),
                    (0.0, sb),
                    (-w * 0.9, top + bowl_h * 0.6),
                ]
            ),
        )
    )
    if chance(rng, 0.5):
        out.append(("rim", box(-w, top - 0.03, w, top + 0.04)))
    return out


def _pot(rng: np.random.Generator, teapot: bool) -> Parts:
    w, cy = (u(rng, 0.5, 0.6), u(rng, 0.15, 0.3)) if teapot else (u(rng, 0.45, 0.6), u(rng, 0.0, 0.15))
    h = u(rng, 0.4, 0.5) if teapot else u(rng, 0.55, 0.7)
    out: Parts = []
    if teapot:
        out += _handle(rng, -w, cy, h * 1.1, -1, 0.09)
        out.append(("spout", curve((w * 0.7, cy + h * 0.3), (w + 0.25, cy), (w + 0.35, cy - h * 0.7), 0.1)))
    else:
        out.append(("handle", arc(0.0, cy - h, w * 0.7, u(rng, 0.3, 0.45), math.pi, 2 * math.pi, 0.09)))
        out.append(
            (
                "spout",
                poly(
                    [
                        (w * 0.8, cy - h * 0.1),
                        (w + 0.35, cy - h * 0.7),
                        (w + 0.4, cy - h * 0.6),
                        (w * 0.9, cy + h * 0.4),
                    ]
                ),
            )
        )
    out.append(("body", ellipse(0.0, cy, w, h) if teapot else box(-w, cy - h, w, cy + h)))
    out.append(("lid", ellipse(0.0, cy - h, w * 0.5, 0.12, start=math.pi, end=2 * math.pi)))
    if chance(rng, 0.6):
        out.append(("knob", ellipse(0.0, cy - h - 0.14, 0.06, 0.05)))
    out.append(("base", box(-w * 0.8, cy + h - 0.04, w * 0.8, cy + h + 0.08)))
    return out


def kettle(rng: np.random.Generator) -> Parts:
    return _pot(rng, teapot=False)


def teapot(rng: np.random.Generator) -> Parts:
    return _pot(rng, teapot=True)


def bottle(rng: np.random.Generator) -> Parts:
    w, shoulder = u(rng, 0.25, 0.4), u(rng, -0.3, 0.0)
    nw = w * u(rng, 0.3, 0.5)
    out: Parts = [
        (
            "neck",
            poly(
                [
                    (-w, shoulder + 0.05),
                    (-nw, shoulder - 0.3),
                    (-nw, -0.75),
                    (nw, -0.75),
                    (nw, shoulder - 0.3),
                    (w, shoulder + 0.05),
                ]
            ),
        )
    ]
    out.append(("cap", box(-nw - 0.02, -0.92, nw + 0.02, -0.74)))
    out.append(("body", box(-w, shoulder, w, 0.92)))
    if chance(rng, 0.6):
        y = u(rng, shoulder + 0.15, 0.4)
        out.append(("label", box(-w, y, w, y + u(rng, 0.2, 0.4))))
    return out


def vase(rng: np.random.Generator) -> Parts:
    w, cy = u(rng, 0.45, 0.6), u(rng, 0.2, 0.35)
    nw = u(rng, 0.15, 0.25)
    out: Parts = [("neck", box(-nw, -0.75, nw, cy - 0.3))]
    if chance(rng, 0.4):
        for s in (-1, 1):
            out.append(
                ("handle", curve((s * nw, -0.55), (s * (w + 0.2), -0.5), (s * w * 0.8, cy - 0.3), 0.07))
            )
    out.append(("body", ellipse(0.0, cy, w, u(rng, 0.45, 0.6))))
    out.append(("rim", box(-nw - 0.08, -0.85, nw + 0.08, -0.73)))
    if chance(rng, 0.6):
        out.append(("base", box(-w * 0.45, 0.82, w * 0.45, 0.95)))
    return out


def lamp(rng: np.random.Generator) -> Parts:
    bw = u(rng, 0.3, 0.5)
    out: Parts = [
        ("base", ellipse(0.0, 0.88, bw, 0.08, start=math.pi, end=2 * math.pi)),
        ("base", box(-bw, 0.87, bw, 0.95)),
    ]
    top = u(rng, -0.45, -0.25)
    if chance(rng, 0.35):  # desk lamp: pipe with a bent arm
        ex = u(rng, 0.3, 0.5)
        out.append(("pipe", line([(0.0, 0.88), (0.0, top + 0.2)], 0.06)))
        out.append(("arm", line([(0.0, top + 0.2), (ex, top - 0.2)], 0.05)))
        out.append(("bulb", ellipse(ex + 0.05, top + 0.05, 0.09, 0.09)))
        out.append(
            (
                "shade",
                poly(
                    [
                        (ex - 0.1, top - 0.3),
                        (ex + 0.15, top - 0.25),
                        (ex + 0.35, top + 0.05),
                        (ex - 0.2, top + 0.05),
                    ]
                ),
            )
        )
        return out
    out.append(("pipe", line([(0.0, 0.88), (0.0, top)], u(rng, 0.05, 0.08))))
    sw = u(rng, 0.4, 0.6)
    if chance(rng, 0.5):
        out.append(("bulb", ellipse(0.0, top + 0.02, 0.1, 0.1)))
    out.append(
        (
            "shade",
            poly(
                [
                    (-sw * u(rng, 0.4, 0.7), -0.9),
                    (sw * u(rng, 0.4, 0.7), -0.9),
                    (sw, top - 0.05),
                    (-sw, top - 0.05),
                ]
            ),
        )
    )
    return out
