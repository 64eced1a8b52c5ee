"""Object zoom: PLUM-small's second look at the object, at the model's full input size.

SynthParts objects are 20-60 pixels wide in a 128-pixel image, so most parts are a few pixels
wide at the encoder's input. :func:`two_pass` segments the spans once on the whole image, takes
the square box around everything found, cuts that box out at the model's input size (an
object-sized window seen 2-5x larger), segments the spans again there and pastes the result
back. Training shows the model both views (:func:`mereo.tools.segment.training.batches.zoom_batch`, with
boxes jittered as roughly as a first pass finds them).

Boxes are ``(x0, y0, side)`` squares in pixels of the model's ``size x size`` input (pixel edges),
and may reach outside it; crops pad with the border pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from mereo.tools.segment.model import ImageFeatures, PlumSmall

#: Training: a crop's side is this many times the object box's longer side (uniform), and its
#: centre moves by up to ``ZOOM_SHIFT`` of the side.
ZOOM_SCALE = (1.15, 1.7)
ZOOM_SHIFT = 0.12
#: Inference: the crop's side relative to the first pass's box (the middle of ``ZOOM_SCALE``).
ZOOM_MARGIN = 1.4
#: No crop is smaller than this many input pixels.
MIN_SIDE = 16.0
#: Logit given to pixels outside the crop when pasting back.
OUTSIDE = -20.0


def mask_boxes(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``B x H x W`` bool -> tight boxes ``B x 4`` (x0, y0, x1, y1; pixel edges) and ``B`` bool
    (non-empty)."""
    rows, cols = masks.any(2), masks.any(1)

    def first(x: torch.Tensor) -> torch.Tensor:
        ar = torch.arange(x.shape[1], device=x.device)
        return torch.where(x, ar, x.shape[1]).amin(1)

    def last(x: torch.Tensor) -> torch.Tensor:
        ar = torch.arange(x.shape[1], device=x.device)
        return torch.where(x, ar, -1).amax(1) + 1

    boxes = torch.stack([first(cols), first(rows), last(cols), last(rows)], 1).float()
    return boxes, rows.any(1)


def square_boxes(
    boxes: torch.Tensor, scale: torch.Tensor | float, shift: torch.Tensor | None = None
) -> torch.Tensor:
    """Tight ``B x 4`` boxes -> ``B x 3`` squares ``(x0, y0, side)``: side ``scale`` times the longer
    side (at least :data:`MIN_SIDE`), centred on the box, moved by ``shift`` (``B x 2``) sides."""
    side = ((boxes[:, 2:] - boxes[:, :2]).amax(1) * scale).clamp(min=MIN_SIDE)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    if shift is not None:
        centre = centre + shift * side[:, None]
    return torch.cat([centre - side[:, None] / 2, side[:, None]], 1)


def _theta(squares: torch.Tensor, size: int) -> torch.Tensor:
    """``B x 2 x 3`` affine matrices (``align_corners=False``) from crop to input coordinates."""
    x0, y0, side = squares.unbind(-1)
    theta = squares.new_zeros(squares.shape[0], 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = side / size
    theta[:, 0, 2] = (2 * x0 + side) / size - 1
    theta[:, 1, 2] = (2 * y0 + side) / size - 1
    return theta


def crop(
    x: torch.Tensor, squares: torch.Tensor, mode: str = "bilinear", padding: str = "border"
) -> torch.Tensor:
    """Cut ``squares`` out of ``B x C x S x S`` ``x`` (float) at the same size ``S``."""
    size = x.shape[-1]
    grid = F.affine_grid(_theta(squares, size), [x.shape[0], 1, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding, align_corners=False)


def paste(logits: torch.Tensor, squares: torch.Tensor, size: int, out_hw: tuple[int, int]) -> torch.Tensor:
    """Put crop logits ``B x K x m x m`` back into the input frame, resampled to ``out_hw``.

    ``squares`` are the crops' boxes in pixels of the ``size x size`` input; pixels outside a crop
    get :data:`OUTSIDE`.
    """
    theta = _theta(squares, size)
    inv = torch.zeros_like(theta)
    inv[:, 0, 0] = inv[:, 1, 1] = 1 / theta[:, 0, 0]
    inv[:, :, 2] = -theta[:, :, 2] / theta[:, :1, :1].squeeze(-1)
    grid = F.affine_grid(inv, [logits.shape[0], 1, *out_hw], align_corners=False)
    out = F.grid_sample(logits, grid, mode="bilinear", padding_mode="border", align_corners=False)
    inside = (grid.abs() <= 1).all(-1, keepdim=True).permute(0, 3, 1, 2)
    return torch.where(inside, out, torch.full_like(out, OUTSIDE))


def two_pass(
    model: PlumSmall,
    images: torch.Tensor,
    queries: torch.Tensor,
    context: torch.Tensor | None,
    *,
    threshold: float,
    gate: bool,
    margin: float = ZOOM_MARGIN,
    active: torch.Tensor | None = None,
    out_hw: tuple[int, int] | None = None,
    first: ImageFeatures | None = None,
    encode_crops: Callable[[torch.Tensor, torch.Tensor], ImageFeatures] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Segment the spans on the whole image, then again on the square around what was found.

    Args:
        model: PLUM-small.
        images: ``B x 3 x S x S`` uint8 (or float 0-255) model inputs.
        queries, context: ``B x K x D`` span queries and ``B x D`` context tokens.
        threshold, gate: what the first pass counts as found (mask logit above ``threshold``,
            and, with ``gate``, a positive presence logit).
        margin: crop side over the found box's longer side.
        active: ``B x K`` bool, spans that count (padding excluded); all when None.
        out_hw: size of the returned logits (default ``S x S``).
        first: the whole images' features when already computed (the cache).
        encode_crops: ``(crops, squares) -> features`` to use instead of ``model.encode_image``.

    Returns:
        ``(mask logits B x K x H x W, presence logits B x K, squares B x 3, zoomed B bool)``: an
        image where the first pass found nothing keeps its first-pass result (``zoomed`` False).
    """
    size = images.shape[-1]
    out_hw = out_hw or (size, size)
    feats = first if first is not None else model.encode_image(images)
    logits1, presence1 = model.decode_all(feats, queries, context=context)
    found = F.interpolate(logits1, size=(size, size), mode="bilinear", align_corners=False) > threshold
    if gate:
        found &= (presence1 > 0)[..., None, None]
    if active is not None:
        found &= active[..., None, None]
    boxes, zoomed = mask_boxes(found.any(1))
    squares = square_boxes(boxes, margin)
    crops = crop(images.float(), squares)
    feats2 = encode_crops(crops, squares) if encode_crops is not None else model.encode_image(crops)
    logits2, presence2 = model.decode_all(feats2, queries, context=context)
    pasted = paste(logits2, squares, size, out_hw)
    whole = F.interpolate(logits1, size=out_hw, mode="bilinear", align_corners=False)
    logits = torch.where(zoomed[:, None, None, None], pasted, whole)
    presence = torch.where(zoomed[:, None], presence2, presence1)
    return logits, presence, squares, zoomed
