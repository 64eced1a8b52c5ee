"""EpochLoop: steps and epochs, max_steps and deadline, and a killed run that resumes to the same
weights as one never stopped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mereo.training import EpochLoop, optimizer_step, seed_everything, warmup_cosine


class Killed(Exception):
    pass


def _run(state_file, epochs=3, kill_after=None, dropout=0.2):
    """Train a tiny regression with every source of randomness the trainers use (numpy batches,
    a torch generator, dropout on torch's global generator); optionally die after an epoch."""
    rng = seed_everything(0)
    gen = torch.Generator().manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(dropout), torch.nn.Linear(8, 1))
    extra = torch.nn.Parameter(torch.zeros(1))
    params = [*model.parameters(), extra]
    opt = torch.optim.AdamW(params, lr=0.05)
    sched = warmup_cosine(opt, epochs * 4, 2)
    x = torch.as_tensor(np.random.default_rng(5).normal(size=(32, 4)), dtype=torch.float32)
    y = x.sum(1, keepdim=True)
    loop = EpochLoop(epochs, 4, desc="tiny", progress=False, state_file=state_file, run_key="tiny")
    loop.track(model=model, extra=extra, optimizer=opt, scheduler=sched, rng=rng, gen=gen)
    loop.resume()
    for epoch in loop.epochs():
        order = rng.permutation(32)
        for step in loop.steps(epoch):
            idx = order[step * 8 : (step + 1) * 8]
            noise = torch.randn(8, 1, generator=gen) * 0.01
            loss = ((model(x[idx]) + extra - y[idx] - noise) ** 2).mean()
            optimizer_step(loss, opt, params, sched)
        loop.extra["last_loss"] = loss.item()
        loop.end_epoch({"epoch": epoch + 1, "loss": loss.item()})
        if kill_after is not None and epoch + 1 == kill_after:
            raise Killed
    return model, extra, loop


def test_a_killed_run_resumes_to_the_same_weights(tmp_path):
    straight, extra_a, loop_a = _run(tmp_path / "a.pt")
    with pytest.raises(Killed):
        _run(tmp_path / "b.pt", kill_after=2)
    assert (tmp_path / "b.pt").exists()
    resumed, extra_b, loop_b = _run(tmp_path / "b.pt")
    assert loop_b.start_epoch == 2 and loop_b.step == 12
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(extra_a, extra_b)
    assert loop_a.history == loop_b.history and loop_b.extra["last_loss"] == loop_a.extra["last_loss"]
    loop_b.finish()
    assert not (tmp_path / "b.pt").exists()


def test_a_state_file_of_another_run_is_ignored(tmp_path):
    with pytest.raises(Killed):
        _run(tmp_path / "s.pt", kill_after=1)
    loop = EpochLoop(3, 4, desc="other", progress=False, state_file=tmp_path / "s.pt", run_key="other")
    loop.track(model=torch.nn.Linear(4, 8))
    assert not loop.resume()
    assert loop.start_epoch == 0 and loop.resume(enabled=False) is False


def test_max_steps_cuts_the_last_epoch_and_stops():
    loop = EpochLoop(5, 4, desc="t", progress=False, max_steps=6)
    seen = [(epoch, step) for epoch in loop.epochs() for step in loop.steps(epoch)]
    assert seen == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]
    assert loop.step == 6 and "max_steps" in loop.stopped


def test_deadline_stops_after_the_epoch_that_passes_it():
    loop = EpochLoop(5, 2, desc="t", progress=False, deadline=0.0)  # long passed
    epochs = []
    for epoch in loop.epochs():
        epochs.append(epoch)
        for _ in loop.steps(epoch):
            pass
        loop.end_epoch({"epoch": epoch + 1})
    assert epochs == [0] and "deadline" in loop.stopped and loop.history == [{"epoch": 1}]
