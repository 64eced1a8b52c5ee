"""Does an image look like the SynthParts scenes the embedded tools were trained on?

SynthParts scenes are flat-shaded objects with a few textures on plain or gradient backgrounds, so
simple image statistics already tell them apart from photographs, noise or other renderings:
colour counts, how much of the image its few main colours cover, edge density, and the energy of
fine detail. :func:`image_statistics` computes them on a 128 x 128 copy; :class:`OodModel` is a
Gaussian fitted on SynthParts val images, and an image whose Mahalanobis distance exceeds the
model's threshold (the 99th percentile of val distances, unless calibrated otherwise) is reported
as out of distribution. The backend-independent check costs about a millisecond per image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

#: Names of the values :func:`image_statistics` returns, in order.
STAT_NAMES = (
    "colours",
    "top8_share",
    "edge_density",
    "laplacian_energy",
    "saturation_mean",
    "value_std",
    "flat_share",
)
#: The backends to name when the images look unlike SynthParts.
FULL_SIZE_HINT = (
    "segment='sam-clip:<SAM .pth>', recognize='open_clip:<arch>:<weights>', "
    "correspond='dinov2:<hub id or folder>' (and a hosted LMM, lmm='openai:<model>')"
)


def image_statistics(image: np.ndarray) -> np.ndarray:
    """Seven statistics of an ``H x W x 3`` uint8 RGB image (see :data:`STAT_NAMES`).

    Returns:
        A float64 vector: distinct colours (log, after quantising to 32 levels per channel), the
        share of pixels in the 8 most common colours, the share of strong edges, the log energy of
        the Laplacian, mean saturation, the standard deviation of brightness, and the share of
        pixels whose 3 x 3 neighbourhood is flat.
    """
    im = (
        Image.fromarray(np.asarray(image, dtype=np.uint8))
        .convert("RGB")
        .resize((128, 128), Image.Resampling.BILINEAR)
    )
    a = np.asarray(im, dtype=np.float64)
    q = (a // 8).astype(np.int64)
    codes = q[..., 0] * 1024 + q[..., 1] * 32 + q[..., 2]
    _, counts = np.unique(codes, return_counts=True)
    top8 = float(np.sort(counts)[::-1][:8].sum()) / codes.size
    grey = a.mean(axis=2)
    gy, gx = np.gradient(grey)
    grad = np.hypot(gx, gy)
    lap = -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    mx, mn = a.max(axis=2), a.min(axis=2)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    local = np.abs(lap) < 2.0
    return np.array(
        [
            np.log(len(counts)),
            top8,
            float((grad > 20).mean()),
            float(np.log1p((lap**2).mean())),
            float(sat.mean()),
            float(grey.std() / 255.0),
            float(local.mean()),
        ]
    )


@dataclass
class OodModel:
    """A Gaussian over :func:`image_statistics` of in-distribution images.

    Attributes:
        mean: ``D`` mean; precision: ``D x D`` inverse covariance (regularised).
        threshold: Mahalanobis distance above which an image is out of distribution.
    """

    mean: np.ndarray
    precision: np.ndarray
    threshold: float

    @classmethod
    def fit(cls, stats: np.ndarray, quantile: float = 0.99, ridge: float = 1e-3) -> OodModel:
        """Fit on ``N x D`` statistics of in-distribution images; the threshold is their ``quantile``."""
        mean = stats.mean(axis=0)
        cov = np.cov(stats, rowvar=False) + ridge * np.eye(stats.shape[1])
        model = cls(mean, np.linalg.inv(cov), 0.0)
        model.threshold = float(np.quantile([model.distance(s) for s in stats], quantile))
        return model

    def distance(self, stats: np.ndarray) -> float:
        """Mahalanobis distance of one statistics vector."""
        d = np.asarray(stats, dtype=np.float64) - self.mean
        return float(np.sqrt(max(0.0, d @ self.precision @ d)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "stats": list(STAT_NAMES),
            "mean": [round(float(x), 6) for x in self.mean],
            "precision": [[round(float(x), 6) for x in row] for row in self.precision],
            "threshold": round(self.threshold, 4),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OodModel:
        return cls(
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["precision"], dtype=np.float64),
            float(d["threshold"]),
        )
