"""Finding several objects in one image with CLIP patch tokens (no separate detector).

1. Dense labelling: every patch token (projected into the joint space) is scored against the
   candidate names and "background" (softmax over ``C + 1`` classes, the model's logit scale).
2. Proposals: patches whose most likely class is an object are grouped into 8-connected
   components per class; each component is a proposal with its box and mask (patch cells
   upsampled to pixels, so masks are as coarse as the patch grid).
3. Re-scoring: each proposal's square crop is embedded as a whole image and classified among the
   candidates; the final label maximises ``log p_crop + log p_dense`` and the score is the
   geometric mean of the two probabilities. Proposals of the same label whose boxes overlap
   (IoU > 0.5) are merged by keeping the best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from mereo.tools.recognize.crops import square_from_bounds


@dataclass
class Detection:
    """One object found: label index into the candidates, score in ``[0, 1]``, ``(x, y, w, h)``
    pixel box and ``H x W`` bool mask."""

    label: int
    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray


def dense_probabilities(
    tokens: torch.Tensor, class_emb: torch.Tensor, bg_emb: torch.Tensor, scale: float
) -> torch.Tensor:
    """``N x E`` patch tokens -> ``N x (C + 1)`` class probabilities (last column: background)."""
    weights = torch.cat([class_emb, bg_emb[None]])
    return torch.softmax(scale * F.normalize(tokens, dim=-1) @ weights.T, dim=-1)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two ``(x, y, w, h)`` boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def detect(
    clip,
    image: np.ndarray,
    class_emb: torch.Tensor,
    bg_emb: torch.Tensor,
    tokens: torch.Tensor,
    grid: tuple[int, int],
    max_objects: int = 5,
) -> list[Detection]:
    """Objects in ``image`` (``H x W x 3`` uint8) from its projected patch ``tokens`` (``N x E``).

    Args:
        clip: the :class:`~mereo.tools.recognize.model.ClipModel` (for crop re-scoring).
        class_emb: ``C x E`` normalised candidate embeddings; bg_emb: ``E`` background embedding.
        grid: the token grid ``(grid_h, grid_w)``.
        max_objects: proposals kept (largest components first) before re-scoring.

    Returns:
        Detections sorted by decreasing score.
    """
    h, w = image.shape[:2]
    gh, gw = grid
    scale = float(clip.logit_scale.detach())
    probs = dense_probabilities(tokens, class_emb, bg_emb, scale).reshape(gh, gw, -1).numpy()
    n_cls = class_emb.shape[0]
    labels = probs.argmax(-1)
    proposals = []
    for c in np.unique(labels):
        if c == n_cls:
            continue
        comp, n = ndimage.label(labels == c, structure=np.ones((3, 3)))
        for j in range(1, n + 1):
            cells = comp == j
            proposals.append((int(cells.sum()), int(c), cells))
    proposals.sort(key=lambda t: -t[0])
    proposals = proposals[:max_objects]
    if not proposals:
        return []
    sy, sx = h / gh, w / gw
    boxes, masks, dense_p = [], [], []
    for _, _, cells in proposals:
        ys, xs = np.nonzero(cells)
        x0, y0, x1, y1 = xs.min() * sx, ys.min() * sy, (xs.max() + 1) * sx, (ys.max() + 1) * sy
        boxes.append((x0, y0, x1, y1))
        masks.append(np.kron(cells, np.ones((int(np.ceil(sy)), int(np.ceil(sx))), dtype=bool))[:h, :w])
        dense_p.append(probs[cells][:, :n_cls].mean(0))
    crops = _crops(image, boxes, clip.image_size)
    with torch.no_grad():
        emb = F.normalize(clip.image_and_tokens(clip.normalize(crops))[0], dim=-1).float().cpu()
    crop_p = torch.softmax(scale * emb @ class_emb.T, dim=-1).numpy()
    dets: list[Detection] = []
    for b, m, dp, cp in zip(boxes, masks, dense_p, crop_p, strict=True):
        joint = np.log(cp + 1e-8) + np.log(dp + 1e-8)
        c = int(joint.argmax())
        score = float(np.sqrt(cp[c] * dp[c]))
        box = (float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1]))
        if any(d.label == c and box_iou(d.box, box) > 0.5 for d in dets):
            continue
        dets.append(Detection(c, score, box, m))
    return sorted(dets, key=lambda d: -d.score)


def _crops(image: np.ndarray, boxes: list[tuple[float, float, float, float]], size: int) -> torch.Tensor:
    from mereo.tools.recognize.crops import crop_batch

    squares = [square_from_bounds(*b, margin=0.1) for b in boxes]
    return crop_batch(image[None], [0] * len(squares), squares, size)
