"""What the mask and label metrics share: the mean, greedy matching, label keys, similarity.

Label key: :func:`casefold_label` (lower-case, ``_`` as a space, collapsed whitespace) is the
comparison the reference benchmarks use ("exact lower-cased set match" in Partonomy / PLUM,
Calico). It is deliberately *not* :func:`mereo.knowledge.canonical`, the one name normaliser of
the rest of Mereo: canonical() also makes the head noun singular and maps synonyms
(``"Legs" -> "leg"``, ``"tyres" -> "tire"``), which would score a prediction the references count
wrong as right. Loaders and the agent already give canonical names, so on our data both agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

#: ``f(a, b) -> cosine similarity`` of two labels.
Similarity = Callable[[str, str], float]


def mean(values: Iterable[float], empty: float = float("nan")) -> float:
    """Mean of ``values``; ``empty`` when there are none."""
    vals = list(values)
    return float(np.mean(vals)) if vals else empty


def casefold_label(label: str) -> str:
    """The benchmarks' label key: ``"Back_Rest "`` -> ``"back rest"`` (see the module docstring).

    Lower-cases, turns ``_`` into a space and collapses whitespace; nothing else (no singular, no
    synonyms, punctuation kept), so ``"legs"`` and ``"leg"`` stay different labels.
    """
    return " ".join(label.replace("_", " ").lower().split())


def greedy_match(matrix: np.ndarray, stop_at_zero: bool) -> list[tuple[int, int]]:
    """Pairs ``(row, col)`` taken in decreasing order of value, each row / column once.

    Args:
        matrix: ``rows x cols`` scores (IoUs or similarities).
        stop_at_zero: stop at the first pair whose value is ``<= 0``.
    """
    order = sorted(
        ((float(matrix[i, j]), i, j) for i in range(matrix.shape[0]) for j in range(matrix.shape[1])),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    rows: set[int] = set()
    cols: set[int] = set()
    out = []
    for v, i, j in order:
        if stop_at_zero and v <= 0:
            break
        if i in rows or j in cols:
            continue
        rows.add(i)
        cols.add(j)
        out.append((i, j))
    return out


def minilm_similarity(a: str, b: str) -> float:
    """Cosine similarity of the offline MiniLM sentence embeddings of two labels."""
    from mereo.text import get_encoder

    return get_encoder().similarity(a, b)


def similarity_matrix(a: Sequence[str], b: Sequence[str], similarity: Similarity | None) -> np.ndarray:
    """``len(a) x len(b)`` label similarities; batched MiniLM cosines when ``similarity`` is None."""
    if similarity is None:
        from mereo.text import get_encoder

        enc = get_encoder()
        return np.clip(enc.encode(list(a)) @ enc.encode(list(b)).T, -1.0, 1.0).astype(np.float64)
    return np.array([[similarity(x, y) for y in b] for x in a], dtype=np.float64)
