"""Colour-guided refinement: labels follow the image's colour edges, at the image's size."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mereo.tools.encoder.refine import MAX_SIDE, RefineSettings, refine, working_size


def _two_colours(size: int, edge: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.zeros((size, size, 3), dtype=np.float32)
    img[:, :edge] = (200, 40, 40)
    img[:, edge:] = (40, 40, 200)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def _coarse_scores(size: int, cell_edge: int) -> torch.Tensor:
    """2 classes on a size/4 grid whose boundary sits at cell ``cell_edge`` (pixel 4 * cell_edge)."""
    g = size // 4
    left = torch.zeros(g, g)
    left[:, :cell_edge] = 1.0
    return torch.stack([3 * left - 1.5, 1.5 - 3 * left])


def test_refined_labels_snap_to_the_colour_edge_that_bilinear_upsampling_misses() -> None:
    size, edge = 64, 30  # the colour edge falls inside cell 7 (pixels 28..31)
    img = _two_colours(size, edge)
    scores = _coarse_scores(size, 8)  # the coarse boundary at pixel 32
    gold = np.zeros((size, size), dtype=bool)
    gold[:, :edge] = True
    coarse = F.interpolate(scores[None], size=(size, size), mode="bilinear")[0].argmax(0).numpy() == 0
    fine = refine(scores, img, RefineSettings(10.0, 2, 6, 1)).argmax(0).numpy() == 0

    def iou(m: np.ndarray) -> float:
        return float((m & gold).sum() / (m | gold).sum())

    assert iou(fine) > iou(coarse) and iou(fine) > 0.99


def test_no_iterations_is_plain_upsampling_and_large_images_are_refined_at_the_working_size() -> None:
    img = _two_colours(64, 30)
    scores = _coarse_scores(64, 8)
    plain = refine(scores, img, RefineSettings(iterations=0))
    expected = F.interpolate(scores[None], size=(64, 64), mode="bilinear").log_softmax(1)[0]
    assert torch.allclose(plain, expected, atol=1e-6)
    big = np.repeat(np.repeat(img, 8, 0), 8, 1)  # 512 x 512
    assert working_size(big.shape[:2]) == (MAX_SIDE, MAX_SIDE)
    out = refine(scores, big)
    assert out.shape == (2, 512, 512) and torch.isfinite(out).all()


def test_best_class_is_argmax_with_the_first_index_on_ties() -> None:
    from mereo.tools.encoder.refine import best_class

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (7, 20, 30), generator=g).float()  # many ties
    assert torch.equal(best_class(x), x.argmax(0))


def test_colour_weights_equal_the_unfold_definition() -> None:
    from mereo.tools.encoder.refine import DEFAULT, colour_weights

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    s = DEFAULT
    im = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]
    k, pad = 2 * s.radius + 1, s.radius * s.dilation
    nb = F.unfold(F.pad(im, (pad,) * 4, mode="replicate"), k, dilation=s.dilation).view(3, k * k, 23, 31)
    w = torch.exp(-((nb - im[0][:, None]) ** 2).sum(0) / (2 * s.sigma**2))
    assert torch.allclose(colour_weights(image, s), w / w.sum(0, keepdim=True), atol=1e-6)
