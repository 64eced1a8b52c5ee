"""Images unlike SynthParts for ``mereo calibrate``: how well the out-of-distribution check
(:mod:`mereo.agent.ood`) separates SynthParts test images from noise, gradients, 1/f textures and
crops of the photographs that ship with matplotlib and scikit-learn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mereo.agent.ood import OodModel, image_statistics


def _photo_crops(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Random square crops of the photographs that ship with matplotlib and scikit-learn, if any."""
    from PIL import Image

    found = []
    try:
        import matplotlib

        found.append(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    except ImportError:  # pragma: no cover
        pass
    try:
        import sklearn  # type: ignore[import-untyped]

        found += sorted((Path(sklearn.__file__).parent / "datasets" / "images").glob("*.jpg"))
    except ImportError:
        pass
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in found if p.exists()]
    out = []
    for k in range(n if photos else 0):
        a = photos[k % len(photos)]
        side = int(rng.integers(min(a.shape[:2]) // 4, min(a.shape[:2])))
        y, x = int(rng.integers(0, a.shape[0] - side + 1)), int(rng.integers(0, a.shape[1] - side + 1))
        out.append(a[y : y + side, x : x + side])
    return out


def other_images(rng: np.random.Generator, n: int = 50) -> dict[str, list[np.ndarray]]:
    """Images unlike SynthParts made here: noise, gradients, 1/f ("photo-like") textures, photo crops."""

    def spectral(alpha: float) -> np.ndarray:
        f = np.fft.fftfreq(128)[:, None] ** 2 + np.fft.fftfreq(128)[None, :] ** 2
        f[0, 0] = 1.0
        chans = []
        for _ in range(3):
            x = np.real(
                np.fft.ifft2(
                    (rng.normal(size=(128, 128)) + 1j * rng.normal(size=(128, 128))) / f ** (alpha / 2)
                )
            )
            chans.append((x - x.min()) / (np.ptp(x) + 1e-9))
        return (np.stack(chans, -1) * 255).astype(np.uint8)

    grid = np.stack(np.meshgrid(np.linspace(0, 1, 128), np.linspace(0, 1, 128)), -1)
    out = {
        "uniform noise": [rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for _ in range(n)],
        "gaussian noise": [
            np.clip(rng.normal(128, 40, (128, 128, 3)), 0, 255).astype(np.uint8) for _ in range(n)
        ],
        "colour gradients": [
            (grid @ rng.random((2, 3)) * 255).clip(0, 255).astype(np.uint8) for _ in range(n)
        ],
        "1/f textures": [spectral(2.0) for _ in range(n)],
        "photo crops": _photo_crops(rng, n),
    }
    return {k: v for k, v in out.items() if v}


def measure_ood(model: OodModel, inside: np.ndarray, others: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """Flag rates: SynthParts test images (false alarms) and each family of other images (hits)."""
    d_in = np.array([model.distance(s) for s in inside])
    out: dict[str, Any] = {
        "synthparts_test_flagged": round(float((d_in > model.threshold).mean()), 4),
        "n_test": len(d_in),
    }
    for name, ims in others.items():
        d = np.array([model.distance(image_statistics(im)) for im in ims])
        out[f"{name} flagged"] = round(float((d > model.threshold).mean()), 4)
        out[f"n {name}"] = len(ims)
    return out
