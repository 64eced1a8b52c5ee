"""The PLUM-small trainer: a short run learns and is seeded, dense pre-training, fresh scenes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mereo.tools.segment.model import PlumSmall
from mereo.tools.segment.training.batches import make_batch
from mereo.tools.segment.training.losses import batch_losses
from mereo.tools.segment.training.train import encoder_state, pretrain_dense, train_model


@pytest.mark.slow
def test_short_training_learns_and_is_seeded(tiny_set, tiny_config) -> None:
    torch.set_num_threads(1)
    assert len(tiny_set) >= 6
    batch = make_batch(tiny_set, np.arange(len(tiny_set)))
    a = train_model(tiny_config, tiny_set, tiny_set, epochs=12, seed=0, batch_size=8, lr=3e-3, progress=False)
    with torch.no_grad():
        after = {k: float(v) for k, v in batch_losses(a.model, batch).items()}
    first = a.history[0]
    assert after["bio"] < first["loss_bio"] * 0.7
    assert after["tversky"] + after["bce"] < first["loss_tversky"] + first["loss_bce"]
    assert a.history[-1]["val_span_f1"] > a.history[0]["val_span_f1"]
    b = train_model(tiny_config, tiny_set, None, epochs=1, seed=0, batch_size=8, progress=False)
    c = train_model(tiny_config, tiny_set, None, epochs=1, seed=0, batch_size=8, progress=False)
    assert all(
        torch.equal(x, y)
        for x, y in zip(b.model.state_dict().values(), c.model.state_dict().values(), strict=True)
    )


@pytest.mark.slow
def test_dense_pretraining_learns_and_seeds_the_full_training(tiny_set, tiny_config) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = PlumSmall(tiny_config)
    before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("span_extractor.")}
    losses = pretrain_dense(model, tiny_set, 60, np.random.default_rng(0), batch_size=4, progress=False)
    assert losses[-1] < losses[0] * 0.8
    # phase 1 touches only the encoder and its dense head
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    start = encoder_state(model)
    assert start and all(k.startswith(("image_encoder.", "dense_head.")) for k in start)
    res = train_model(
        tiny_config,
        tiny_set,
        None,
        epochs=1,
        seed=0,
        batch_size=8,
        progress=False,
        max_steps=0,
        start_from=start,
    )
    got = res.model.state_dict()
    assert all(torch.equal(v, got[k]) for k, v in start.items())


@pytest.mark.slow
def test_fresh_scenes_train_the_encoder(tiny_set, tiny_config) -> None:
    res = train_model(
        tiny_config, tiny_set, None, epochs=1, seed=0, batch_size=8, progress=False, flip=True, fresh_dense=2
    )
    assert "loss_fresh_aux_parts" in res.history[0] and np.isfinite(res.history[0]["loss_fresh_aux_parts"])
