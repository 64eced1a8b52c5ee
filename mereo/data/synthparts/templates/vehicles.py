"""Vehicle templates, seen from the side (front to the right before mirroring)."""

from __future__ import annotations

import numpy as np

from mereo.data.synthparts.draw import box, ellipse, line, poly, rect, ring
from mereo.data.synthparts.templates.base import Parts, chance, spread, u


def _wheels(rng: np.random.Generator, xs: list[float], y: float, r: float) -> Parts:
    out: Parts = [("wheel", ellipse(x, y, r, r)) for x in xs]
    return out


def car(rng: np.random.Generator) -> Parts:
    top, bot = u(rng, -0.15, 0.0), u(rng, 0.35, 0.45)
    roof_h = u(rng, 0.3, 0.45)
    rx0, rx1 = u(rng, -0.6, -0.4), u(rng, 0.25, 0.45)
    out: Parts = [
        (
            "roof",
            poly([(rx0 - 0.1, top), (rx0 + 0.1, top - roof_h), (rx1 - 0.05, top - roof_h), (rx1 + 0.2, top)]),
        )
    ]
    out.append(
        (
            "body",
            poly(
                [
                    (-1.0, top + 0.05),
                    (-0.95, top),
                    (0.95, top + 0.05),
                    (1.0, bot - 0.1),
                    (0.95, bot),
                    (-0.95, bot),
                    (-1.0, bot - 0.1),
                ]
            ),
        )
    )
    wy = top - roof_h * 0.45
    n_win = int(rng.integers(1, 3))
    xs = spread(rx0 + 0.05, rx1 - 0.02, n_win + 1)
    for a, b in zip(xs[:-1], xs[1:], strict=True):
        out.append(("window", box(a + 0.04, wy - roof_h * 0.35, b - 0.04, top - 0.03)))
    for a, b in zip(xs[:-1], xs[1:], strict=True):
        out.append(("door", box(a + 0.02, top + 0.04, b - 0.02, bot - 0.08)))
    out.append(("headlight", ellipse(0.93, top + 0.12, 0.06, 0.05)))
    if chance(rng, 0.6):
        out.append(("taillight", rect(-0.96, top + 0.1, 0.06, 0.08)))
    if chance(rng, 0.5):
        out.append(("mirror", ellipse(rx1 + 0.12, top - 0.05, 0.06, 0.04)))
    for x in (-1.0, 1.0):
        out.append(("bumper", rect(x, bot - 0.08, 0.12, 0.1)))
    r = u(rng, 0.2, 0.26)
    out += _wheels(rng, [u(rng, -0.7, -0.55), u(rng, 0.5, 0.65)], bot, r)
    return out


def van(rng: np.random.Generator) -> Parts:
    top, bot = u(rng, -0.75, -0.55), u(rng, 0.35, 0.45)
    out: Parts = [
        (
            "body",
            poly([(-1.0, top), (0.45, top), (0.95, top + 0.5), (1.0, bot - 0.1), (0.95, bot), (-1.0, bot)]),
        )
    ]
    out.append(("window", poly([(0.5, top + 0.1), (0.85, top + 0.5), (0.5, top + 0.5)])))
    for x in spread(-0.8, 0.05, int(rng.integers(1, 4))):
        out.append(("window", rect(x, top + 0.25, 0.22, 0.22)))
    out.append(("door", box(0.22, top + 0.05, 0.48, bot - 0.1)))
    if chance(rng, 0.5):
        out.append(("door", box(-0.35, top + 0.05, -0.05, bot - 0.1)))
    out.append(("headlight", ellipse(0.94, top + 0.65, 0.05, 0.05)))
    out.append(("taillight", rect(-0.97, top + 0.55, 0.05, 0.12)))
    out.append(("bumper", rect(1.0, bot - 0.07, 0.1, 0.1)))
    out.append(("bumper", rect(-1.0, bot - 0.07, 0.1, 0.1)))
    out += _wheels(rng, [-0.6, u(rng, 0.5, 0.65)], bot, u(rng, 0.18, 0.24))
    return out


def bus(rng: np.random.Generator) -> Parts:
    top, bot = u(rng, -0.6, -0.45), u(rng, 0.3, 0.4)
    out: Parts = [("body", poly([(-1.0, top), (0.95, top), (1.0, top + 0.1), (1.0, bot), (-1.0, bot)]))]
    n = int(rng.integers(4, 8))
    w = 1.7 / n
    for x in spread(-0.9 + w / 2, 0.8 - w / 2, n):
        out.append(("window", rect(x, top + 0.2, w * 0.8, u(rng, 0.2, 0.28))))
    for x in spread(-0.3, 0.75, int(rng.integers(1, 3))):
        out.append(("door", box(x, top + 0.1, x + 0.18, bot - 0.05)))
    out.append(("headlight", rect(0.97, bot - 0.2, 0.05, 0.08)))
    out.append(("bumper", rect(0.0, bot, 2.0, 0.07)))
    if chance(rng, 0.5):
        out.append(("mirror", line([(1.0, top + 0.15), (1.08, top + 0.2), (1.08, top + 0.3)], 0.04)))
    xs = [-0.6, 0.6] if chance(rng, 0.6) else [-0.7, -0.35, 0.6]
    out += _wheels(rng, xs, bot, u(rng, 0.15, 0.2))
    return out


def truck(rng: np.random.Generator) -> Parts:
    top, bot = u(rng, -0.7, -0.5), u(rng, 0.3, 0.4)
    split = u(rng, 0.3, 0.45)
    out: Parts = [("body", box(-1.0, top + u(rng, -0.05, 0.15), split - 0.04, bot - 0.1))]
    ct = top + u(rng, 0.1, 0.25)
    out.append(("cab", poly([(split, ct), (0.8, ct), (1.0, ct + 0.35), (1.0, bot), (split, bot)])))
    out.append(("window", poly([(0.7, ct + 0.05), (0.82, ct + 0.05), (0.95, ct + 0.33), (0.7, ct + 0.33)])))
    out.append(("door", box(split + 0.05, ct + 0.05, 0.66, bot - 0.05)))
    out.append(("headlight", rect(0.97, bot - 0.18, 0.05, 0.08)))
    out.append(("bumper", rect(1.0, bot - 0.03, 0.1, 0.08)))
    if chance(rng, 0.5):
        out.append(("mirror", rect(split - 0.01, ct + 0.1, 0.04, 0.12)))
    xs = [-0.7, -0.35, 0.7] if chance(rng, 0.5) else [-0.6, 0.7]
    out += _wheels(rng, xs, bot, u(rng, 0.15, 0.2))
    return out


def bicycle(rng: np.random.Generator) -> Parts:
    r = u(rng, 0.38, 0.45)
    wy, bx, fx = 0.5, -0.55, 0.55
    tw = u(rng, 0.06, 0.1)
    out: Parts = [("wheel", ring(x, wy, r, r, tw)) for x in (bx, fx)]
    px, py = u(rng, -0.1, 0.05), wy + 0.03
    sx, sy = bx + 0.3, wy - u(rng, 0.45, 0.6)
    hx, hy = fx - 0.12, wy - u(rng, 0.5, 0.65)
    fw = u(rng, 0.04, 0.06)
    out.append(("frame", line([(bx, wy), (px, py), (sx, sy), (bx, wy)], fw)))
    out.append(("frame", line([(px, py), (hx, hy + 0.12), (sx, sy)], fw)))
    out.append(("fork", line([(hx, hy + 0.05), (fx, wy)], fw)))
    out.append(("saddle", ellipse(sx - 0.02, sy - 0.07, 0.14, 0.045)))
    out.append(("handlebar", line([(hx, hy + 0.05), (hx, hy), (hx + 0.15, hy - 0.02)], fw)))
    out.append(("pedal", rect(px + 0.05, py + 0.12, 0.12, 0.04)))
    if chance(rng, 0.3):
        out.append(("basket", box(fx - 0.05, hy - 0.05, fx + 0.2, hy + 0.15)))
    return out


def airplane(rng: np.random.Generator) -> Parts:
    bh = u(rng, 0.14, 0.22)
    out: Parts = []
    sweep = u(rng, 0.1, 0.35)
    out.append(("wing", poly([(0.15, 0.0), (-0.05 - sweep, -0.55), (-0.2 - sweep, -0.55), (-0.25, 0.0)])))
    out.append(
        (
            "tail",
            poly([(-0.75, 0.0), (-0.95 - sweep * 0.5, -0.45), (-1.02 - sweep * 0.5, -0.45), (-1.0, 0.0)]),
        )
    )
    out.append(("body", ellipse(0.0, 0.0, 1.0, bh)))
    out.append(("wing", poly([(0.2, 0.02), (-0.1 - sweep, 0.6), (-0.3 - sweep, 0.6), (-0.25, 0.02)])))
    if chance(rng, 0.6):
        for x, y in ((-0.05 - sweep / 2, 0.3),) + (((-0.1 - sweep, 0.5),) if chance(rng, 0.5) else ()):
            out.append(("engine", ellipse(x, y + 0.05, 0.16, 0.06)))
    out.append(("cockpit", ellipse(0.72, -bh * 0.45, 0.15, bh * 0.4)))
    if chance(rng, 0.5):
        out.append(("window", line([(-0.6, -bh * 0.2), (0.45, -bh * 0.2)], 0.04)))
    if chance(rng, 0.4):
        out.append(("propeller", ellipse(1.0, 0.0, 0.04, u(rng, 0.3, 0.4))))
    return out


def boat(rng: np.random.Generator) -> Parts:
    deck, keel = u(rng, 0.15, 0.3), u(rng, 0.5, 0.65)
    out: Parts = []
    sail = chance(rng, 0.7)
    if sail:
        mx = u(rng, -0.15, 0.1)
        top = u(rng, -0.95, -0.8)
        out.append(("mast", line([(mx, deck), (mx, top)], 0.05)))
        clew = (mx + u(rng, 0.5, 0.8), deck - 0.1)
        out.append(("sail", poly([(mx + 0.04, top + 0.05), (mx + 0.04, deck - 0.1), clew])))
        if chance(rng, 0.5):
            clew = (mx - u(rng, 0.4, 0.6), deck - 0.1)
            out.append(("sail", poly([(mx - 0.04, top + 0.15), (mx - 0.04, deck - 0.1), clew])))
        if chance(rng, 0.3):
            out.append(("flag", poly([(mx, top), (mx - 0.2, top + 0.05), (mx, top + 0.1)])))
    else:
        out.append(("cabin", box(-0.5, deck - u(rng, 0.3, 0.45), 0.2, deck)))
        for x in spread(-0.4, 0.1, int(rng.integers(1, 4))):
            out.append(("window", rect(x, deck - 0.2, 0.1, 0.1)))
    out.append(("body", poly([(-1.0, deck), (1.0, deck - 0.08), (0.6, keel), (-0.8, keel)])))
    return out
