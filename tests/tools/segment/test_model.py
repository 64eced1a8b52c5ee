"""PLUM-small: shapes, mask feedback, the dense head, ablation variants, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from mereo.tools.segment.model import PlumConfig, PlumSmall


def test_shapes_and_feedback_changes_later_masks(tiny_config) -> None:
    torch.manual_seed(0)
    model = PlumSmall(tiny_config).eval()
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


def test_context_token_and_dense_head(tiny_config) -> None:
    torch.manual_seed(0)
    model = PlumSmall(tiny_config).eval()
    with torch.no_grad():
        emb = model.encode_image(torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8))
        parts, objects = model.dense_logits(emb)
        assert parts.shape == (2, tiny_config.aux_parts + 1, 16, 16)
        assert objects.shape == (2, tiny_config.aux_objects + 1, 16, 16)
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


def test_ablation_variants_build_without_their_modules(tiny_config) -> None:
    m = PlumSmall(PlumConfig(feedback=False, bidirectional=False, image_size=64, embed_dim=32))
    assert m.feedback is None and m.span_extractor.layer is None
    full = PlumSmall(tiny_config)
    assert full.feedback is not None and full.span_extractor.layer is not None


def test_checkpoint_round_trip(tmp_path, tiny_config) -> None:
    from mereo.checkpoints import save_checkpoint
    from mereo.errors import CheckpointError
    from mereo.tools.segment.plum import load_plum

    torch.manual_seed(1)
    model = PlumSmall(tiny_config)
    save_checkpoint("plum-small", model.state_dict(), {"config": tiny_config.to_dict()}, directory=tmp_path)
    loaded, manifest = load_plum(str(tmp_path / "plum-small.safetensors"))
    assert manifest["config"]["embed_dim"] == 32
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)
    (tmp_path / "plum-small.safetensors").write_bytes(b"not weights")
    with pytest.raises(CheckpointError):
        load_plum(str(tmp_path))
