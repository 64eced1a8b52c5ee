"""B/I/O tags over word pieces: gold tags from character spans, spans back from predicted tags.

Tag ids: ``O = 0``, ``B = 1``, ``I = 2``. Token offsets are the tokenizer's ``(start, end)``
character ranges; special and padding tokens have ``(0, 0)`` and are always ``O``.
"""

from __future__ import annotations

from collections.abc import Sequence

O_TAG, B_TAG, I_TAG = 0, 1, 2
TAG_NAMES = ("O", "B", "I")


def bio_tags(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, str]]) -> list[int]:
    """Gold tag per token: the first token inside a span is B, the following ones I.

    Args:
        offsets: per token ``(start, end)`` character range.
        spans: ``(start, end, label)`` character spans (non-overlapping).

    Returns:
        One tag id per token.
    """
    tags = [O_TAG] * len(offsets)
    for start, end, _ in spans:
        first = True
        for i, (a, b) in enumerate(offsets):
            if b <= a:  # special / padding token
                continue
            if a >= start and b <= end:
                tags[i] = B_TAG if first else I_TAG
                first = False
    return tags


def decode_tags(tags: Sequence[int], offsets: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Token spans ``(first, last + 1)`` from B/I/O tags.

    A B opens a span (closing an open one), I continues it, O closes it, and a span still open
    at the end closes there. A stray I with no open span opens one (lenient, like seqeval).
    Special and padding tokens (offsets ``(0, 0)``) close any open span.
    """
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, tag in enumerate(tags):
        special = offsets[i][1] <= offsets[i][0]
        if special or tag == O_TAG:
            if start is not None:
                spans.append((start, i))
                start = None
            continue
        if tag == B_TAG or start is None:
            if start is not None:
                spans.append((start, i))
            start = i
    if start is not None:
        spans.append((start, len(tags)))
    return spans


def char_spans(
    token_spans: Sequence[tuple[int, int]], offsets: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Character ranges of token spans (from the first token's start to the last token's end)."""
    return [(offsets[a][0], offsets[b - 1][1]) for a, b in token_spans]


def span_f1(
    pred: Sequence[Sequence[tuple[int, int]]], gold: Sequence[Sequence[tuple[int, int]]]
) -> dict[str, float]:
    """Exact-match span precision / recall / F1, micro-summed over texts.

    Args:
        pred: per text, predicted ``(start, end)`` character spans.
        gold: per text, gold character spans.
    """
    tp = n_pred = n_gold = 0
    for p, g in zip(pred, gold, strict=True):
        ps, gs = set(map(tuple, p)), set(map(tuple, g))
        tp += len(ps & gs)
        n_pred += len(ps)
        n_gold += len(gs)
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / n_gold if n_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
