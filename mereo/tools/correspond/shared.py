"""The ``synthparts-cnn`` correspond backend: the shared encoder's dense correspondence embedding.

The embedding (``corr_dim`` per stride-4 cell, L2-normalised) was trained so that the same part
kind is close across objects and images; :class:`FeatureCorresponder` pools it over part masks
and matches points by it. The image is encoded once per agent (``ToolContext.cache``,
namespace ``"encoder:synthparts-cnn"``); other tools reading the encoder share that forward.
"""

from __future__ import annotations

import numpy as np
import torch

from mereo.tools.base import ToolContext
from mereo.tools.correspond.backends import FeatureCorresponder
from mereo.tools.encoder.runtime import SharedEncoder, load_encoder
from mereo.types import ImageRef

#: the mutual-match threshold on the cosine of the correspondence embedding
MATCH_THRESHOLD = 0.5


def correspondence_tokens(
    encoder: SharedEncoder, ctx: ToolContext, image: np.ndarray
) -> tuple[torch.Tensor, tuple[int, int]]:
    """``N x corr_dim`` tokens row-major over the ``(h, w)`` grid of an ``H x W x 3`` image."""
    enc = encoder.encode(ctx, ImageRef(image))
    d, h, w = enc.corr.shape
    return enc.corr.reshape(d, h * w).T.contiguous(), (h, w)


def build_shared_corresponder(ctx: ToolContext, arg: str | None) -> FeatureCorresponder:
    """Registry builder: ``synthparts-cnn`` or ``synthparts-cnn:/path/to/encoder.safetensors``."""
    encoder = load_encoder(arg)
    threshold = float(encoder.manifest.get("match_threshold", MATCH_THRESHOLD))
    return FeatureCorresponder(
        "synthparts-cnn", lambda image: correspondence_tokens(encoder, ctx, image), ctx, threshold=threshold
    )
