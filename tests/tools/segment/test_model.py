"""PLUM-small: shapes, mask feedback, losses, a short training run, checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mereo.tools.segment.model import PlumConfig, PlumSmall
from mereo.tools.segment.training.losses import bio_loss, focal_tversky_loss, mask_bce

TINY = PlumConfig(image_size=64, embed_dim=32, span_hidden=32, decoder_mlp=64, encoder_channels=(8, 16))


@pytest.fixture(scope="module")
def tiny_set():
    from mereo.data.synthparts import PART_LABELS, generate_scenes
    from mereo.tools.segment.training.data import build_set

    return build_set(
        generate_scenes("train", 6, seed=5, size=64), sorted(PART_LABELS), seed=1, size=64, progress=False
    )


def test_shapes_and_feedback_changes_later_masks() -> None:
    torch.manual_seed(0)
    model = PlumSmall(TINY).eval()
    with torch.no_grad():
        for p in model.feedback.parameters():  # FiLM starts at identity; make it do something
            p.normal_(0, 0.5)
        emb = model.encode_image(torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8))
        assert [tuple(x.shape) for x in emb] == [(2, 32, 8, 8), (2, 8, 16, 16), (2, 4, 32, 32)]
        tokens = torch.randn(2, 7, 384)
        assert model.tag(tokens, torch.ones(2, 7, dtype=torch.bool)).shape == (2, 7, 3)
        index = torch.zeros(2, 3, 7)
        index[:, 0, 1] = index[:, 1, 2:4] = index[:, 2, 5] = 1
        queries = model.span_queries(tokens, index)
        assert queries.shape == (2, 3, 32)
        masks, presence = model.decode_all(emb, queries)
        assert masks.shape == (2, 3, 32, 32) and presence.shape == (2, 3)
        alone, _ = model.decode(emb, queries[:, 1])
        assert torch.allclose(alone[:, 0], model.decode(emb, queries[:, 1])[0][:, 0])
        assert torch.allclose(masks[:, 0], model.decode(emb, queries[:, 0])[0][:, 0], atol=1e-5)
        assert not torch.allclose(masks[:, 1], alone[:, 0], atol=1e-4)  # the first mask fed back


def test_context_token_and_dense_head() -> None:
    torch.manual_seed(0)
    model = PlumSmall(TINY).eval()
    with torch.no_grad():
        emb = model.encode_image(torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8))
        parts, objects = model.dense_logits(emb)
        assert parts.shape == (2, TINY.aux_parts + 1, 16, 16)
        assert objects.shape == (2, TINY.aux_objects + 1, 16, 16)
        tokens = torch.randn(2, 7, 384)
        attention = torch.ones(2, 7, dtype=torch.bool)
        attention[1, 5:] = False
        ctx = model.context(tokens, attention)
        assert ctx is not None and ctx.shape == (2, 32)
        changed = tokens.clone()
        changed[1, 5:] = 99.0  # padding does not reach the context token
        assert torch.allclose(model.context(changed, attention)[1], ctx[1])
        index = torch.zeros(2, 2, 7)
        index[:, 0, 1] = index[:, 1, 3] = 1
        queries = model.span_queries(tokens, index)
        with_ctx, _ = model.decode_all(emb, queries, context=ctx)
        without, _ = model.decode_all(emb, queries)
        assert not torch.allclose(with_ctx, without, atol=1e-4)  # the description reaches the masks
    plain = PlumSmall(
        PlumConfig(image_size=64, embed_dim=32, aux_parts=0, context_token=False, context_stages=0)
    )
    assert plain.dense_head is None and plain.context_proj is None
    assert plain.context(torch.randn(1, 3, 384), torch.ones(1, 3, dtype=torch.bool)) is None
    with pytest.raises(RuntimeError):
        plain.dense_logits(plain.encode_image(torch.zeros(1, 3, 64, 64)))


def test_dense_maps_match_the_span_targets(tiny_set) -> None:
    from mereo.data.synthparts import PART_LABELS

    labels = sorted(PART_LABELS)
    masks = tiny_set.target_masks(range(len(tiny_set)))
    assert tiny_set.part_maps.shape == tiny_set.images.shape[:3]
    assert tiny_set.object_maps.shape == tiny_set.images.shape[:3]
    checked = 0
    for i, spans in enumerate(tiny_set.spans):
        pmap = tiny_set.part_maps[tiny_set.scene_of[i]]
        for k, (_, _, label) in enumerate(spans):
            if masks[i, k].any():  # the span's pixels carry its label in the dense map (up to occluders)
                assert (pmap[masks[i, k]] == labels.index(label) + 1).mean() > 0.5
                checked += 1
    assert checked > 0


def test_ablation_variants_build_without_their_modules() -> None:
    m = PlumSmall(PlumConfig(feedback=False, bidirectional=False, image_size=64, embed_dim=32))
    assert m.feedback is None and m.span_extractor.layer is None
    full = PlumSmall(TINY)
    assert full.feedback is not None and full.span_extractor.layer is not None


def test_losses() -> None:
    target = torch.zeros(2, 16, 16)
    target[0, 4:8, 4:8] = 1
    perfect = (target * 2 - 1) * 20
    assert focal_tversky_loss(perfect, target).max() < 1e-3
    assert focal_tversky_loss(-perfect, target)[0] > 0.9
    assert focal_tversky_loss(torch.full((2, 16, 16), 5.0), target)[1] > 0.9  # false positives on empty
    # recall-biased: missing pixels cost more than the same number of extra pixels
    miss, extra = torch.full((1, 16, 16), -20.0), torch.full((1, 16, 16), -20.0)
    t = torch.zeros(1, 16, 16)
    t[0, :8, :8] = 1
    miss[0, :8, :4] = 20
    extra[0, :8, :12] = 20
    assert focal_tversky_loss(miss, t) > focal_tversky_loss(extra, t)
    assert mask_bce(perfect, target).max() < 1e-3
    logits = torch.zeros(1, 3, 3)
    logits[0, 0, 1] = logits[0, 1, 0] = logits[0, 2, 2] = 10
    assert bio_loss(logits, torch.tensor([[1, 0, 2]])) < 1e-3
    assert bio_loss(logits, torch.tensor([[-100, 0, 2]])) < 1e-3


def test_short_training_learns_and_is_seeded(tiny_set) -> None:
    from mereo.tools.segment.training.train import batch_losses, make_batch, train_model

    torch.set_num_threads(1)
    assert len(tiny_set) >= 6
    batch = make_batch(tiny_set, np.arange(len(tiny_set)))
    a = train_model(TINY, tiny_set, tiny_set, epochs=12, seed=0, batch_size=8, lr=3e-3, progress=False)
    with torch.no_grad():
        after = {k: float(v) for k, v in batch_losses(a.model, batch).items()}
    first = a.history[0]
    assert after["bio"] < first["loss_bio"] * 0.7
    assert after["tversky"] + after["bce"] < first["loss_tversky"] + first["loss_bce"]
    assert a.history[-1]["val_span_f1"] > a.history[0]["val_span_f1"]
    b = train_model(TINY, tiny_set, None, epochs=1, seed=0, batch_size=8, progress=False)
    c = train_model(TINY, tiny_set, None, epochs=1, seed=0, batch_size=8, progress=False)
    assert all(
        torch.equal(x, y)
        for x, y in zip(b.model.state_dict().values(), c.model.state_dict().values(), strict=True)
    )


def test_set_cache_round_trip(tiny_set, tmp_path) -> None:
    from mereo.tools.segment.training.data import SegmentSet

    tiny_set.save(tmp_path / "s.npz")
    back = SegmentSet.load(tmp_path / "s.npz")
    assert back.spans == tiny_set.spans and back.texts == tiny_set.texts and back.visible == tiny_set.visible
    assert np.array_equal(back.target_masks([0]), tiny_set.target_masks([0]))
    assert np.array_equal(back.part_maps, tiny_set.part_maps)
    assert np.array_equal(back.object_maps, tiny_set.object_maps)
    masks = tiny_set.target_masks(range(len(tiny_set)))
    # every span's target is a part of its object, or empty for a part it lacks / hides
    for i, spans in enumerate(tiny_set.spans):
        for k, (_, _, label) in enumerate(spans):
            assert masks[i, k].any() == (label in tiny_set.visible[i])


def test_checkpoint_round_trip(tmp_path) -> None:
    from mereo.checkpoints import save_checkpoint
    from mereo.errors import CheckpointError
    from mereo.tools.segment.plum import load_plum

    torch.manual_seed(1)
    model = PlumSmall(TINY)
    save_checkpoint("plum-small", model.state_dict(), {"config": TINY.to_dict()}, directory=tmp_path)
    loaded, manifest = load_plum(str(tmp_path / "plum-small.safetensors"))
    assert manifest["config"]["embed_dim"] == 32
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)
    (tmp_path / "plum-small.safetensors").write_bytes(b"not weights")
    with pytest.raises(CheckpointError):
        load_plum(str(tmp_path))


def test_dense_pretraining_learns_and_seeds_the_full_training(tiny_set) -> None:
    from mereo.tools.segment.training.train import encoder_state, pretrain_dense, train_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = PlumSmall(TINY)
    before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("span_extractor.")}
    losses = pretrain_dense(model, tiny_set, 60, np.random.default_rng(0), batch_size=4, progress=False)
    assert losses[-1] < losses[0] * 0.8
    # phase 1 touches only the encoder and its dense head
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    start = encoder_state(model)
    assert start and all(k.startswith(("image_encoder.", "dense_head.")) for k in start)
    res = train_model(
        TINY, tiny_set, None, epochs=1, seed=0, batch_size=8, progress=False, max_steps=0, start_from=start
    )
    got = res.model.state_dict()
    assert all(torch.equal(v, got[k]) for k, v in start.items())


def test_flip_mirrors_images_targets_and_maps_together(tiny_set) -> None:
    from mereo.tools.segment.training.train import flip_half, make_batch

    b = make_batch(tiny_set, np.arange(min(8, len(tiny_set))))
    flipped = flip_half(b, np.random.default_rng(3))
    changed = [i for i in range(b.images.shape[0]) if not torch.equal(flipped.images[i], b.images[i])]
    assert 0 < len(changed) < b.images.shape[0]  # some samples mirrored, some not
    for i in range(b.images.shape[0]):
        same = i not in changed
        ref = (lambda x: x) if same else (lambda x: x.flip(-1))
        assert torch.equal(flipped.images[i], ref(b.images[i]))
        assert torch.equal(flipped.targets[i], ref(b.targets[i]))
        assert torch.equal(flipped.part_maps[i], ref(b.part_maps[i]))
        assert torch.equal(flipped.object_maps[i], ref(b.object_maps[i]))
    assert torch.equal(flipped.tokens, b.tokens) and torch.equal(flipped.tags, b.tags)


def test_fresh_scenes_are_new_deterministic_and_train_the_encoder(tiny_set) -> None:
    from mereo.data.synthparts import generate_scene
    from mereo.tools.segment.training.data import scene_arrays
    from mereo.tools.segment.training.train import FreshScenes, train_model

    a, b = FreshScenes(0, 64), FreshScenes(0, 64)
    ims, parts, objects = a.batch(3)
    assert ims.shape == (3, 3, 64, 64) and parts.shape == objects.shape == (3, 64, 64)
    assert torch.equal(ims, b.batch(3)[0])  # same seed, same scenes
    assert not torch.equal(a.batch(3)[0], ims)  # the stream moves on
    image, part_map, _ = scene_arrays(generate_scene("train", 1000, 0, size=64), 64)
    assert np.array_equal(ims[0].permute(1, 2, 0).numpy(), image)
    assert np.array_equal(parts[0].numpy(), part_map)
    res = train_model(
        TINY, tiny_set, None, epochs=1, seed=0, batch_size=8, progress=False, flip=True, fresh_dense=2
    )
    assert "loss_fresh_aux_parts" in res.history[0] and np.isfinite(res.history[0]["loss_fresh_aux_parts"])


def test_tune_inference_tries_zoom_and_flip_and_keeps_the_best(tiny_set) -> None:
    from mereo.tools.segment.training.train import THRESHOLDS, ZOOM_THRESHOLDS, tune_inference, validate

    torch.manual_seed(0)
    model = PlumSmall(TINY).eval()
    res = tune_inference(model, tiny_set)
    rows = res["grid"]
    assert len(rows) == 4 * len(THRESHOLDS) + len(ZOOM_THRESHOLDS)
    assert {(r[2], r[3]) for r in rows} == {(False, False), (True, False), (False, True)}
    assert res["val_span_miou"] == max(r[4] for r in rows)
    chosen = [r for r in rows if r[4] == res["val_span_miou"]][0]
    assert [res["threshold"], res["presence_gate"], res["zoom"], res["flip"]] == chosen[:4]
    flip_only = validate(model, tiny_set, grid=(), flip_grid=[(0.0, True)])
    assert flip_only["span_miou_flip"] == [r[4] for r in rows if r[:4] == [0.0, True, False, True]][0]
