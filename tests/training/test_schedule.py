"""The shared learning-rate schedule, optimiser step and seeding."""

from __future__ import annotations

import math

import pytest
import torch

from mereo.training import optimizer_step, seed_everything, warmup_cosine


def test_warmup_cosine_rises_linearly_then_decays_to_zero():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, total=100, warmup=10)
    lrs = []
    for _ in range(101):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[4] == pytest.approx(
        0.5 * 0.5 * (1 + math.cos(math.pi * 0.04))
    )
    assert max(lrs) == pytest.approx(lrs[9]) and lrs[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))


def test_optimizer_step_clips_the_gradient_and_steps_the_schedule():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([w], lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    optimizer_step((w * torch.tensor([30.0, 40.0])).sum(), opt, [w], sched, clip=1.0)
    assert torch.allclose(w.detach(), torch.tensor([-0.6, -0.8]))  # gradient (30, 40) clipped to norm 1
    assert opt.param_groups[0]["lr"] == 0.5


def test_seed_everything_seeds_torch_and_numpy():
    a = seed_everything(3)
    x, u = torch.rand(2), a.random()
    b = seed_everything(3)
    assert torch.equal(x, torch.rand(2)) and u == b.random()
