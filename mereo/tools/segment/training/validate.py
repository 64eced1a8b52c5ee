"""Validation of PLUM-small (span-tagging F1, span IoU) and the choice of its inference settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mereo.tools.segment.model import PlumSmall
from mereo.tools.segment.spans import char_spans, decode_tags, span_f1
from mereo.tools.segment.training.batches import make_batch
from mereo.tools.segment.training.data import SegmentSet

#: Mask-logit thresholds tried by :func:`tune_inference`.
THRESHOLDS = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5)


@torch.no_grad()
def validate(
    model: PlumSmall,
    ds: SegmentSet,
    batch_size: int = 32,
    grid: Sequence[tuple[float, bool]] = ((0.0, True),),
    zoom_grid: Sequence[tuple[float, bool]] = (),
    flip_grid: Sequence[tuple[float, bool]] = (),
) -> dict[str, Any]:
    """Span-tagging F1 (predicted tags) and mean span IoU (gold spans as queries).

    Span IoU: per sample the mean IoU of its spans' masks at the set's resolution (an empty
    prediction for an empty target counts 1), then the mean over samples (macro). Each grid lists
    ``(logit threshold, presence gate)`` settings of one way of reading the model: ``grid`` one
    pass, ``zoom_grid`` the two-pass inference (:func:`~mereo.tools.segment.zoom.two_pass`),
    ``flip_grid`` the image averaged with its mirror
    (:func:`~mereo.tools.segment.model.flip_average`). The first setting of each gives
    ``span_miou``, ``span_miou_zoom`` and ``span_miou_flip``; with more than one setting in all,
    ``span_miou_grid`` lists every one as ``[threshold, gate, zoom, flip, miou]``. The images are
    encoded and the spans decoded once for all settings.
    """
    from mereo.tools.segment.model import average_mirrored
    from mereo.tools.segment.zoom import two_pass

    model.eval()
    preds, golds = [], []
    modes = {"plain": grid, "zoom": zoom_grid, "flip": flip_grid}
    ious: dict[tuple[float, bool, str], list[float]] = {
        (t, g, m): [] for m, settings in modes.items() for t, g in settings
    }

    def score(
        logits: torch.Tensor,
        presence: torch.Tensor,
        tgt: torch.Tensor,
        active: torch.Tensor,
        key: tuple[float, bool, str],
    ) -> None:
        threshold, gate, _ = key
        pred = logits > threshold
        if gate:
            pred &= (presence > 0)[..., None, None]
        inter = (pred & tgt).flatten(2).sum(-1).float()
        union = (pred | tgt).flatten(2).sum(-1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
        for i in range(pred.shape[0]):
            if active[i].any():
                ious[key].append(float(iou[i][active[i]].mean()))

    for start in range(0, len(ds), batch_size):
        idx = np.arange(start, min(len(ds), start + batch_size))
        b = make_batch(ds, idx)
        tags = model.tag(b.tokens, b.attention).argmax(-1)
        for i, row in enumerate(idx):
            t = int(b.attention[i].sum())
            offs = [tuple(o) for o in ds.offsets[row, :t].tolist()]
            preds.append(char_spans(decode_tags(tags[i, :t].tolist(), offs), offs))
            golds.append([(a, e) for a, e, _ in ds.spans[row]])
        queries = model.span_queries(b.tokens, b.span_index)
        context = model.context(b.tokens, b.attention)
        feats = model.encode_image(b.images)
        size = b.targets.shape[-1]
        tgt = b.targets > 0.5

        def at_size(
            out: tuple[torch.Tensor, torch.Tensor], _size: int = size
        ) -> tuple[torch.Tensor, torch.Tensor]:
            return F.interpolate(out[0], size=(_size, _size), mode="bilinear", align_corners=False), out[1]

        decoded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if grid or flip_grid:
            plain = model.decode_all(feats, queries, context=context)
            decoded["plain"] = at_size(plain)
            if flip_grid:
                mirrored = model.decode_all(model.encode_image(b.images.flip(-1)), queries, context=context)
                decoded["flip"] = at_size(average_mirrored(plain, mirrored))
        for mode, settings in modes.items():
            for threshold, gate in settings:
                if mode == "zoom":
                    logits, presence, _, _ = two_pass(
                        model,
                        b.images,
                        queries,
                        context,
                        threshold=threshold,
                        gate=gate,
                        active=b.active,
                        out_hw=(size, size),
                        first=feats,
                    )
                else:
                    logits, presence = decoded[mode]
                score(logits, presence, tgt, b.active, (threshold, gate, mode))
    model.train()
    f1 = span_f1(preds, golds)
    means = {k: float(np.mean(v)) if v else float("nan") for k, v in ious.items()}
    out: dict[str, Any] = {
        "span_f1": f1["f1"],
        "span_precision": f1["precision"],
        "span_recall": f1["recall"],
    }
    for mode, settings in modes.items():
        if settings:
            out["span_miou" + ("" if mode == "plain" else f"_{mode}")] = means[(*settings[0], mode)]
    if len(means) > 1:
        out["span_miou_grid"] = [[t, g, m == "zoom", m == "flip", v] for (t, g, m), v in means.items()]
    return out


#: Two-pass settings tried by :func:`tune_inference` (the whole-image pass tries all THRESHOLDS).
ZOOM_THRESHOLDS = (-1.0, -0.5, 0.0)


def tune_inference(
    model: PlumSmall, val_set: SegmentSet, zoom: bool = True, flip: bool = True
) -> dict[str, Any]:
    """Pick the mask-logit threshold, presence gating, zoom and flip averaging with the best
    validation span IoU."""
    grid = [(t, g) for g in (True, False) for t in THRESHOLDS]
    zoom_grid = [(t, True) for t in ZOOM_THRESHOLDS] if zoom else []
    rows = validate(model, val_set, grid=grid, zoom_grid=zoom_grid, flip_grid=grid if flip else ())[
        "span_miou_grid"
    ]
    model.eval()
    threshold, gate, use_zoom, use_flip, best = max(rows, key=lambda r: r[4])
    return {
        "threshold": threshold,
        "presence_gate": gate,
        "zoom": use_zoom,
        "flip": use_flip,
        "val_span_miou": best,
        "grid": rows,
    }
