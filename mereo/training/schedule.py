"""The learning-rate schedule and the optimiser step the trainers share."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def warmup_cosine(opt: torch.optim.Optimizer, total: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps (at least 1), then cosine decay to 0 at step ``total``.

    The factor at step ``s`` is ``min(1, (s + 1) / warmup) * (1 + cos(pi * min(1, s / total))) / 2``.
    """
    warm = max(1, warmup)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total))))
    )


def optimizer_step(
    loss: torch.Tensor,
    opt: torch.optim.Optimizer,
    params: Iterable[torch.nn.Parameter],
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    clip: float | None = 1.0,
) -> None:
    """One update: clear the gradients, back-propagate ``loss``, clip the gradient norm of
    ``params`` to ``clip`` (``None``: no clipping), step the optimiser and the schedule."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    if scheduler is not None:
        scheduler.step()
