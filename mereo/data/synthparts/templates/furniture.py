"""Furniture templates, seen from the front: chairs, stools, benches, sofas, tables, beds."""

from __future__ import annotations

import math

import numpy as np

from mereo.data.synthparts.draw import box, ellipse, line, poly, rect
from mereo.data.synthparts.templates.base import Parts, chance, legs, spread, u


def _back(rng: np.random.Generator, cx: float, w: float, top: float, bottom: float) -> Parts:
    """A backrest: plain, rounded, or slatted (posts, a top rail and slats, all labelled back)."""
    style = rng.integers(3)
    if style == 0:
        return [("back", box(cx - w / 2, top, cx + w / 2, bottom))]
    if style == 1:
        r = (bottom - top) * u(rng, 0.2, 0.45)
        return [
            ("back", box(cx - w / 2, top + r, cx + w / 2, bottom)),
            ("back", ellipse(cx, top + r, w / 2, r, start=math.pi, end=2 * math.pi)),
        ]
    post = w * u(rng, 0.08, 0.14)
    out: Parts = [("back", box(cx - w / 2, top, cx + w / 2, top + (bottom - top) * 0.25))]
    for x in (cx - w / 2 + post / 2, cx + w / 2 - post / 2):
        out.append(("back", rect(x, (top + bottom) / 2, post, bottom - top)))
    for x in spread(cx - w / 4, cx + w / 4, int(rng.integers(1, 4))):
        out.append(("back", rect(x, (top + bottom) / 2, post * 0.7, bottom - top)))
    return out


def chair(rng: np.random.Generator) -> Parts:
    sw, sy, st = u(rng, 0.8, 1.1), u(rng, 0.0, 0.2), u(rng, 0.1, 0.18)
    lw = u(rng, 0.06, 0.12)
    out = _back(rng, 0.0, sw * u(rng, 0.75, 1.0), sy - u(rng, 0.8, 1.05), sy)
    out += legs(
        rng,
        -sw / 2 + lw,
        sw / 2 - lw,
        sy + st,
        0.95,
        int(rng.choice([3, 4])),
        lw,
        splay=u(rng, 0.0, 0.12) if chance(rng, 0.4) else 0.0,
    )
    if chance(rng, 0.4):
        out.append(("stretcher", rect(0.0, u(rng, 0.55, 0.75), sw - 2 * lw, lw * 0.7)))
    out.append(("seat", box(-sw / 2, sy, sw / 2, sy + st)))
    if chance(rng, 0.35):
        ay = sy - u(rng, 0.25, 0.4)
        for s in (-1, 1):
            out.append(("arm", box(s * sw / 2 - 0.05, ay, s * sw / 2 + 0.05 * s, sy)))
            out.append(("arm", box(s * sw / 2 - 0.08, ay - 0.05, s * sw / 2 + 0.08, ay + 0.03)))
    return out


def armchair(rng: np.random.Generator) -> Parts:
    sw, sy, st = u(rng, 1.1, 1.4), u(rng, 0.15, 0.3), u(rng, 0.2, 0.3)
    aw = u(rng, 0.18, 0.28)
    out: Parts = [("back", box(-sw / 2 + 0.05, sy - u(rng, 0.75, 0.95), sw / 2 - 0.05, sy + 0.05))]
    out += legs(
        rng,
        -sw / 2 - aw / 2 + 0.06,
        sw / 2 + aw / 2 - 0.06,
        sy + st,
        sy + st + u(rng, 0.12, 0.3),
        int(rng.choice([2, 4])),
        u(rng, 0.06, 0.1),
    )
    out.append(("seat", box(-sw / 2, sy, sw / 2, sy + st)))
    if chance(rng, 0.5):
        out.append(("cushion", box(-sw / 2 + 0.05, sy - 0.1, sw / 2 - 0.05, sy + 0.04)))
    ay = sy - u(rng, 0.3, 0.45)
    for s in (-1, 1):
        x = s * (sw / 2 + aw / 2 - 0.02)
        out.append(("arm", box(x - aw / 2, ay, x + aw / 2, sy + st)))
        out.append(("arm", ellipse(x, ay, aw / 2 + 0.02, 0.06)))
    return out


def sofa(rng: np.random.Generator) -> Parts:
    sw, sy, st = u(rng, 1.5, 1.8), u(rng, 0.1, 0.25), u(rng, 0.18, 0.26)
    aw = u(rng, 0.12, 0.2)
    out: Parts = [("back", box(-sw / 2, sy - u(rng, 0.5, 0.7), sw / 2, sy + 0.05))]
    out += legs(
        rng,
        -sw / 2 + 0.05,
        sw / 2 - 0.05,
        sy + st,
        sy + st + u(rng, 0.08, 0.2),
        int(rng.choice([2, 4, 6])),
        u(rng, 0.05, 0.09),
    )
    out.append(("seat", box(-sw / 2, sy, sw / 2, sy + st)))
    n = int(rng.integers(0, 4))
    inner = sw - 2 * aw
    half = inner / (2 * max(n, 1))
    for x in spread(-inner / 2 + half, inner / 2 - half, n) if n else []:
        out.append(("cushion", rect(x, sy - 0.04, inner / n - 0.04, 0.12)))
    ay = sy - u(rng, 0.2, 0.35)
    for s in (-1, 1):
        if chance(rng, 0.9):
            x = s * (sw / 2 - aw / 2)
            out.append(("arm", box(x - aw / 2, ay, x + aw / 2, sy + st)))
    return out


def stool(rng: np.random.Generator) -> Parts:
    sw, sy, st = u(rng, 0.6, 1.0), u(rng, -0.35, 0.0), u(rng, 0.08, 0.16)
    lw = u(rng, 0.05, 0.1)
    out = legs(
        rng, -sw / 2 + lw, sw / 2 - lw, sy + st, 0.95, int(rng.choice([3, 4])), lw, splay=u(rng, 0.05, 0.2)
    )
    if chance(rng, 0.5):
        out.append(("footrest", rect(0.0, u(rng, 0.45, 0.7), sw * u(rng, 0.8, 1.1), lw)))
    if chance(rng, 0.5):
        out.append(("seat", ellipse(0.0, sy + st / 2, sw / 2 + 0.05, st)))
    else:
        out.append(("seat", box(-sw / 2, sy, sw / 2, sy + st)))
    return out


def ottoman(rng: np.random.Generator) -> Parts:
    sw, sy = u(rng, 1.0, 1.5), u(rng, -0.1, 0.2)
    sh = u(rng, 0.35, 0.6)
    out = legs(
        rng,
        -sw / 2 + 0.08,
        sw / 2 - 0.08,
        sy + sh,
        sy + sh + u(rng, 0.1, 0.25),
        int(rng.choice([2, 4])),
        u(rng, 0.06, 0.1),
    )
    out.append(("seat", box(-sw / 2, sy, sw / 2, sy + sh)))
    if chance(rng, 0.6):
        out.append(("cushion", ellipse(0.0, sy, sw / 2, u(rng, 0.08, 0.14))))
    return out


def bench(rng: np.random.Generator) -> Parts:
    sw, sy, st = u(rng, 1.6, 1.9), u(rng, 0.05, 0.25), u(rng, 0.08, 0.14)
    lw = u(rng, 0.06, 0.12)
    out: Parts = []
    if chance(rng, 0.6):
        bt = sy - u(rng, 0.5, 0.75)
        for y in spread(bt, sy - 0.15, int(rng.integers(1, 4))):
            out.append(("back", rect(0.0, y, sw * 0.95, u(rng, 0.07, 0.12))))
        for x in (-sw / 2 + 0.15, sw / 2 - 0.15):
            out.append(("back", rect(x, (bt + sy) / 2, lw, sy - bt)))
    out += legs(rng, -sw / 2 + 0.12, sw / 2 - 0.12, sy + st, 0.9, int(rng.choice([2, 3, 4])), lw)
    out.append(("seat", box(-sw / 2, sy, sw / 2, sy + st)))
    if chance(rng, 0.4):
        ay = sy - u(rng, 0.25, 0.35)
        for s in (-1, 1):
            out.append(
                (
                    "arm",
                    line(
                        [(s * (sw / 2 - 0.05), sy), (s * (sw / 2 - 0.05), ay), (s * (sw / 2 - 0.25), ay)],
                        0.06,
                    ),
                )
            )
    return out


def table(rng: np.random.Generator) -> Parts:
    tw, ty, tt = u(rng, 1.5, 1.9), u(rng, -0.45, -0.15), u(rng, 0.07, 0.14)
    lw = u(rng, 0.06, 0.13)
    out = legs(
        rng,
        -tw / 2 + 0.1,
        tw / 2 - 0.1,
        ty + tt,
        0.95,
        int(rng.choice([2, 3, 4])),
        lw,
        splay=u(rng, 0.0, 0.1) if chance(rng, 0.3) else 0.0,
    )
    if chance(rng, 0.35):
        out.append(("shelf", rect(0.0, u(rng, 0.5, 0.75), tw - 0.2, u(rng, 0.05, 0.09))))
    if chance(rng, 0.5):
        out.append(("apron", box(-tw / 2 + 0.06, ty + tt, tw / 2 - 0.06, ty + tt + u(rng, 0.08, 0.16))))
    if chance(rng, 0.3):
        out.append(("drawer", rect(u(rng, -0.3, 0.3), ty + tt + 0.1, u(rng, 0.3, 0.5), 0.12)))
    out.append(("top", box(-tw / 2, ty, tw / 2, ty + tt)))
    return out


def bed(rng: np.random.Generator) -> Parts:
    bw, my, mh = u(rng, 1.7, 1.95), u(rng, -0.05, 0.2), u(rng, 0.15, 0.28)
    out: Parts = [
        ("headboard", box(-bw / 2, my - u(rng, 0.5, 0.8), -bw / 2 + u(rng, 0.08, 0.14), my + mh + 0.25))
    ]
    if chance(rng, 0.6):
        out.append(("footboard", box(bw / 2 - 0.1, my - u(rng, 0.1, 0.3), bw / 2, my + mh + 0.25)))
    out += legs(rng, -bw / 2 + 0.1, bw / 2 - 0.1, my + mh + 0.2, my + mh + u(rng, 0.3, 0.45), 2, 0.08)
    out.append(("frame", box(-bw / 2 + 0.05, my + mh, bw / 2 - 0.05, my + mh + 0.2)))
    out.append(("mattress", box(-bw / 2 + 0.1, my, bw / 2 - 0.08, my + mh)))
    if chance(rng, 0.7):
        out.append(("pillow", ellipse(-bw / 2 + 0.35, my - 0.04, u(rng, 0.18, 0.25), u(rng, 0.07, 0.1))))
    if chance(rng, 0.5):
        out.append(
            (
                "blanket",
                poly(
                    [
                        (-0.1, my - 0.03),
                        (bw / 2 - 0.1, my - 0.03),
                        (bw / 2 - 0.1, my + mh * 0.8),
                        (-0.15, my + mh * 0.8),
                    ]
                ),
            )
        )
    return out
