"""Does colour give the parts away? A pixel-colour -> part-label classifier, fitted on train.

Two lookup tables over quantised RGB (``bins``^3 cells), fitted on the train split's pixels:

- a MAP classifier (cell counts smoothed towards the label prior, ``alpha`` pseudo-pixels): its
  test accuracy is compared with the majority-label baseline (always the most frequent label);
- a maximum-likelihood classifier (``argmax_label p(cell | label)``): its balanced accuracy (mean
  recall over labels) is compared with chance, ``1 / number of labels``.

SynthParts draws every colour from one distribution whatever it paints, so both should sit at
their baselines. Only pixels of counted (visible enough) parts are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mereo.data.synthparts.compose import generate_scenes
from mereo.data.synthparts.templates import PART_LABELS


@dataclass(frozen=True)
class ColourCheck:
    """Result of :func:`colour_check` (accuracies are fractions of test part pixels)."""

    accuracy: float
    majority_baseline: float
    balanced_accuracy: float
    chance: float
    train_pixels: int
    test_pixels: int

    def summary(self) -> str:
        return (
            f"colour -> part label on test part pixels: accuracy {100 * self.accuracy:.1f}% "
            f"(majority-label baseline {100 * self.majority_baseline:.1f}%); balanced accuracy "
            f"{100 * self.balanced_accuracy:.1f}% (chance {100 * self.chance:.1f}%); "
            f"train {self.train_pixels} px, test {self.test_pixels} px"
        )


def _pixels(split: str, n: int, seed: int, size: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantised colour cells and labels (1-based into ``PART_LABELS``) of every counted part pixel."""
    cells, labels = [], []
    for scene in generate_scenes(split, n, seed, size):
        lab = scene.part_label_map(PART_LABELS)
        keep = lab > 0
        q = (scene.image[keep].astype(np.int64) * bins) // 256
        cells.append((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2])
        labels.append(lab[keep])
    return np.concatenate(cells), np.concatenate(labels)


def colour_check(
    n_train: int = 300,
    n_test: int = 100,
    seed: int = 0,
    size: int = 128,
    bins: int = 8,
    alpha: float = 2000.0,
) -> ColourCheck:
    """Fit the colour classifiers on ``n_train`` train images and score them on ``n_test`` test images."""
    n_labels = len(PART_LABELS) + 1
    c_tr, y_tr = _pixels("train", n_train, seed, size, bins)
    counts = np.zeros((bins**3, n_labels), dtype=np.float64)
    np.add.at(counts, (c_tr, y_tr), 1.0)
    freq = counts.sum(axis=0)
    prior = freq / freq.sum()
    majority = int(freq.argmax())
    map_table = (counts + alpha * prior).argmax(axis=1)
    seen = freq > 0
    likelihood = np.where(seen, (counts + 1e-3) / np.maximum(freq, 1.0), -1.0)
    ml_table = likelihood.argmax(axis=1)
    c_te, y_te = _pixels("test", n_test, seed, size, bins)
    labels = [k for k in np.unique(y_te) if seen[k]]
    recall = [float((ml_table[c_te[y_te == k]] == k).mean()) for k in labels]
    return ColourCheck(
        accuracy=float((map_table[c_te] == y_te).mean()),
        majority_baseline=float((y_te == majority).mean()),
        balanced_accuracy=float(np.mean(recall)),
        chance=1.0 / max(1, int(seen.sum())),
        train_pixels=int(len(y_tr)),
        test_pixels=int(len(y_te)),
    )
