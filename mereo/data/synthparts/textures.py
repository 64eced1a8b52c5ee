"""Random colours, part textures and backgrounds (numpy only).

Every colour comes from one distribution whatever it paints (a part of any label, a background,
a clutter shape), so a pixel's colour carries no information about its part label; see
``mereo data colour-check``.
"""

from __future__ import annotations

import colorsys

import numpy as np

TEXTURES = ("flat", "noise", "stripes", "gradient", "checker", "blotch")


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A colour drawn uniformly in hue, broadly in saturation and value; ``(3,)`` float in [0, 255]."""
    h, s, v = rng.random(), rng.uniform(0.0, 1.0) ** 0.7, rng.uniform(0.15, 1.0)
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32) * 255.0


def jitter_colour(rng: np.random.Generator, colour: np.ndarray, amount: float = 40.0) -> np.ndarray:
    """A colour near ``colour`` (same family), clipped to [0, 255]."""
    return np.clip(colour + rng.normal(0.0, amount, 3).astype(np.float32), 0, 255)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates as broadcastable ``H x 1`` and ``1 x W`` float32 arrays."""
    return (np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :])


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1], ``H x W``: a small random grid upsampled bilinearly."""
    small = rng.random((cells + 1, cells + 1)).astype(np.float32)
    ys = np.linspace(0, cells, height, dtype=np.float32)
    xs = np.linspace(0, cells, width, dtype=np.float32)
    y0, x0 = np.minimum(ys.astype(int), cells - 1), np.minimum(xs.astype(int), cells - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = small[y0][:, x0], small[y0][:, x0 + 1]
    c, d = small[y0 + 1][:, x0], small[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def texture(
    rng: np.random.Generator, height: int, width: int, base: np.ndarray, kind: str | None = None
) -> np.ndarray:
    """A textured ``H x W x 3`` float32 layer around colour ``base``.

    Args:
        rng: the scene's generator.
        height, width: layer size in pixels.
        base: ``(3,)`` RGB colour in [0, 255].
        kind: one of :data:`TEXTURES`, or ``None`` to draw one at random.
    """
    kind = kind or str(rng.choice(TEXTURES))
    out = np.empty((height, width, 3), dtype=np.float32)
    out[:] = base
    if kind == "flat":
        return out
    second = random_colour(rng) if rng.random() < 0.5 else jitter_colour(rng, base, 60.0)
    if kind == "noise":
        out += rng.normal(0.0, rng.uniform(5, 30), (height, width, 1)).astype(np.float32)
    elif kind == "stripes":
        yy, xx = _grid(height, width)
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(3, 12)
        t = (np.cos(theta) * xx + np.sin(theta) * yy) / period
        out = np.where(((t % 1.0) < 0.5)[..., None], out, second)
    elif kind == "gradient":
        yy, xx = _grid(height, width)
        theta = rng.uniform(0, 2 * np.pi)
        t = np.cos(theta) * xx + np.sin(theta) * yy
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        out = out * (1 - t[..., None]) + second * t[..., None]
    elif kind == "checker":
        yy, xx = _grid(height, width)
        cell = rng.integers(3, 9)
        out = np.where((((yy // cell) + (xx // cell)) % 2 == 0)[..., None], out, second)
    else:  # blotch
        t = _smooth_noise(rng, height, width, int(rng.integers(2, 8)))
        out = out * (1 - t[..., None]) + second * t[..., None]
    return out


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A background ``H x W x 3`` float32 image: flat, noise, gradient, stripes or blotches."""
    base = random_colour(rng)
    img = texture(rng, height, width, base)
    if rng.random() < 0.5:
        img += rng.normal(0.0, rng.uniform(2, 12), (height, width, 1)).astype(np.float32)
    return img


def outline(mask: np.ndarray) -> np.ndarray:
    """The 1-pixel inner boundary of an ``H x W`` bool mask."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner
