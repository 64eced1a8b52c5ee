"""Animal templates, seen from the side (head to the right before mirroring)."""

from __future__ import annotations

import numpy as np

from mereo.data.synthparts.draw import curve, ellipse, line, poly
from mereo.data.synthparts.templates.base import Parts, chance, u


def _quadruped(
    rng: np.random.Generator,
    *,
    body: tuple[float, float],
    leg: tuple[float, float],
    head: float,
    snout: float,
    ear: str,
    tail: str,
    neck: float = 0.0,
    horn: bool = False,
    mane: bool = False,
    udder: bool = False,
) -> Parts:
    """A four-legged animal.

    Args:
        body: ``(half_length, half_height)`` of the body ellipse in object units (jittered).
        leg: ``(length, width)`` of a leg in object units.
        head: head radius; ``snout``: how long the muzzle is (0 = round head).
        ear: ``"pointy"``, ``"floppy"`` or ``"small"``.
        tail: ``"long"``, ``"bushy"``, ``"short"`` or ``"tuft"``.
        neck: neck length (0 = none); ``horn``/``mane``/``udder``: draw those parts.
    """
    bl, bh = body[0] * u(rng, 0.85, 1.1), body[1] * u(rng, 0.85, 1.15)
    by = 0.95 - leg[0] - bh * 0.7
    ll, lw = leg[0] * u(rng, 0.9, 1.1), leg[1]
    out: Parts = []
    # far legs first, slightly offset and shorter
    for x in (-bl * 0.65 + 0.08, bl * 0.6 + 0.08):
        foot = (x + u(rng, -0.05, 0.05), by + bh * 0.6 + ll - 0.05)
        out.append(("leg", line([(x, by + bh * 0.3), foot], lw)))
    ty = by - bh * 0.3
    if tail == "long":
        out.append(
            (
                "tail",
                curve(
                    (-bl + 0.05, ty),
                    (-bl - 0.35, ty + u(rng, -0.4, 0.2)),
                    (-bl - u(rng, 0.3, 0.5), ty + u(rng, -0.6, 0.3)),
                    u(rng, 0.05, 0.08),
                ),
            )
        )
    elif tail == "bushy":
        out.append(("tail", ellipse(-bl - 0.2, ty - 0.1, 0.3, 0.1, angle=u(rng, -0.9, -0.3))))
    elif tail == "tuft":
        out.append(("tail", curve((-bl + 0.05, ty), (-bl - 0.15, ty + 0.1), (-bl - 0.12, ty + 0.6), 0.06)))
    else:
        out.append(("tail", ellipse(-bl - 0.04, ty, 0.1, 0.05, angle=u(rng, -0.8, 0.3))))
    hx, hy = bl + head * 0.6 + neck * 0.6, by - bh - neck * 0.8 + head * 0.3
    if neck:
        out.append(
            (
                "neck",
                poly(
                    [
                        (bl - 0.35, by - bh * 0.3),
                        (bl * 0.7, by - bh * 0.8),
                        (hx - head * 0.5, hy - head * 0.4),
                        (hx + head * 0.2, hy + head * 0.5),
                        (bl - 0.05, by + bh * 0.2),
                    ]
                ),
            )
        )
    out.append(("body", ellipse(0.0, by, bl, bh)))
    if udder:
        out.append(("udder", ellipse(-bl * 0.3, by + bh * 0.9, 0.12, 0.08)))
    for x in (-bl * 0.65, bl * 0.6):
        out.append(("leg", line([(x, by + bh * 0.4), (x + u(rng, -0.05, 0.05), by + bh * 0.6 + ll)], lw)))
    if mane:
        out.append(("mane", line([(bl * 0.7, by - bh * 0.9), (hx - head * 0.4, hy - head * 0.6)], 0.09)))
    if ear == "floppy":
        ears = [ellipse(hx - head * 0.4, hy + head * 0.3, head * 0.25, head * 0.6, angle=0.3)]
    else:
        size = 0.7 if ear == "pointy" else 0.4
        ears = [
            poly(
                [
                    (hx - head * 0.6, hy - head * 0.5),
                    (hx - head * 0.5, hy - head * (1.0 + size)),
                    (hx - head * 0.05, hy - head * 0.75),
                ]
            )
        ]
    if horn:
        out.append(
            (
                "horn",
                curve(
                    (hx - head * 0.2, hy - head * 0.8),
                    (hx - head * 0.3, hy - head * 1.7),
                    (hx - head * u(rng, 0.8, 1.3), hy - head * u(rng, 1.5, 2.0)),
                    0.06,
                ),
            )
        )
    if ear != "floppy":
        out += [("ear", e) for e in ears]
    out.append(("head", ellipse(hx, hy, head, head * 0.85)))
    if snout:
        out.append(("head", ellipse(hx + head * 0.7, hy + head * 0.3, snout, head * 0.45, angle=0.2)))
    if ear == "floppy":
        out += [("ear", e) for e in ears]
    if chance(rng, 0.7):
        out.append(("eye", ellipse(hx + head * 0.25, hy - head * 0.2, 0.045, 0.045)))
    return out


def dog(rng: np.random.Generator) -> Parts:
    return _quadruped(
        rng,
        body=(0.6, 0.25),
        leg=(0.45, 0.1),
        head=0.22,
        snout=u(rng, 0.12, 0.22),
        ear=str(rng.choice(["floppy", "pointy"])),
        tail=str(rng.choice(["long", "bushy", "short"])),
        neck=0.0,
    )


def cat(rng: np.random.Generator) -> Parts:
    return _quadruped(rng, body=(0.55, 0.2), leg=(0.4, 0.08), head=0.2, snout=0.0, ear="pointy", tail="long")


def horse(rng: np.random.Generator) -> Parts:
    return _quadruped(
        rng,
        body=(0.55, 0.25),
        leg=(0.6, 0.09),
        head=0.14,
        snout=u(rng, 0.2, 0.26),
        ear="small",
        tail="tuft",
        neck=0.35,
        mane=chance(rng, 0.7),
    )


def cow(rng: np.random.Generator) -> Parts:
    return _quadruped(
        rng,
        body=(0.65, 0.3),
        leg=(0.4, 0.12),
        head=0.18,
        snout=u(rng, 0.1, 0.16),
        ear="small",
        tail="tuft",
        neck=0.1,
        horn=chance(rng, 0.6),
        udder=chance(rng, 0.5),
    )


def goat(rng: np.random.Generator) -> Parts:
    return _quadruped(
        rng,
        body=(0.5, 0.22),
        leg=(0.45, 0.08),
        head=0.15,
        snout=u(rng, 0.1, 0.15),
        ear="small",
        tail="short",
        neck=0.2,
        horn=True,
    )


def bird(rng: np.random.Generator) -> Parts:
    bl, bh = u(rng, 0.45, 0.6), u(rng, 0.28, 0.38)
    by = u(rng, -0.1, 0.1)
    out: Parts = []
    for dx in (-0.08, 0.08):
        out.append(("leg", line([(dx, by + bh * 0.7), (dx + 0.05, 0.9), (dx + 0.18, 0.92)], 0.04)))
    spread_ = u(rng, 0.2, 0.5)
    out.append(("tail", poly([(-bl * 0.8, by), (-bl - 0.45, by - spread_), (-bl - 0.5, by + spread_ * 0.4)])))
    out.append(("body", ellipse(0.0, by, bl, bh, angle=u(rng, -0.3, 0.0))))
    hx, hy = bl * 0.95, by - bh * 0.9
    out.append(("head", ellipse(hx, hy, 0.22, 0.2)))
    bk = u(rng, 0.15, 0.3)
    out.append(("beak", poly([(hx + 0.17, hy - 0.06), (hx + 0.17 + bk, hy + 0.02), (hx + 0.15, hy + 0.08)])))
    up = chance(rng, 0.4)
    if up:
        tip = (u(rng, -0.4, 0.1), by - u(rng, 0.6, 0.9))
        out.append(("wing", poly([(-0.2, by - 0.05), (0.3, by - 0.05), tip])))
    else:
        out.append(("wing", ellipse(-0.1, by + 0.02, bl * 0.75, bh * 0.5, angle=0.15)))
    if chance(rng, 0.8):
        out.append(("eye", ellipse(hx + 0.05, hy - 0.04, 0.04, 0.04)))
    return out


def _fish(rng: np.random.Generator, shark: bool) -> Parts:
    bl, bh = (u(rng, 0.85, 0.95), u(rng, 0.18, 0.24)) if shark else (u(rng, 0.6, 0.75), u(rng, 0.3, 0.45))
    out: Parts = []
    dorsal_h = u(rng, 0.35, 0.5) if shark else u(rng, 0.15, 0.3)
    tip = (0.0 if shark else -0.1, -bh - dorsal_h)
    out.append(("fin", poly([(-0.25, -bh * 0.8), tip, (0.2, -bh * 0.8)])))
    spread_ = u(rng, 0.3, 0.5)
    if shark:
        out.append(
            (
                "tail",
                poly(
                    [
                        (-bl + 0.1, 0.0),
                        (-bl - 0.2, -spread_ * 1.3),
                        (-bl - 0.05, 0.0),
                        (-bl - 0.15, spread_ * 0.7),
                    ]
                ),
            )
        )
    else:
        out.append(("tail", poly([(-bl + 0.1, 0.0), (-bl - 0.35, -spread_), (-bl - 0.3, spread_)])))
    out.append(("body", ellipse(0.0, 0.0, bl, bh)))
    hx = bl * 0.6
    out.append(("head", ellipse(hx, 0.0, bl * 0.4, bh * 0.95)))
    out.append(("fin", poly([(0.25, bh * 0.3), (-0.05, bh + u(rng, 0.1, 0.25)), (0.05, bh * 0.3)])))
    if chance(rng, 0.8):
        out.append(("eye", ellipse(hx + bl * 0.15, -bh * 0.3, 0.05, 0.05)))
    return out


def fish(rng: np.random.Generator) -> Parts:
    return _fish(rng, shark=False)


def shark(rng: np.random.Generator) -> Parts:
    return _fish(rng, shark=True)
