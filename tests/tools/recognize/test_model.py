"""ClipModel: no shared mutable model state during a call, so one model serves many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from mereo.tools.recognize.model import ClipModel, build_clip, make_tokenizer, small_config


def _model() -> ClipModel:
    torch.manual_seed(0)
    cfg = small_config()
    return ClipModel(build_clip(cfg), make_tokenizer(cfg["text_cfg"]["context_length"]), device="cpu")


def test_image_and_tokens_leaves_the_model_untouched() -> None:
    """A forward hook sees the visual tower's flags as they were: nothing is flipped around a call."""
    clip = _model()
    visual = clip.model.visual
    seen: list[bool] = []
    visual.register_forward_pre_hook(lambda mod, args: seen.append(bool(mod.output_tokens)))
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    tokens = clip.patch_tokens_batch(images)
    assert tokens.shape == (2, clip.grid[0] * clip.grid[1], 128)
    assert all(s is False for s in seen)
    assert visual.output_tokens is False


def test_tokens_and_embeddings_equal_open_clips_own_output() -> None:
    clip = _model()
    visual = clip.model.visual
    pixels = clip.to_pixels(np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    with torch.no_grad():
        pooled, tokens = clip.image_and_tokens(pixels)
        visual.output_tokens = True
        ref_pooled, ref_tokens = visual(pixels)
        visual.output_tokens = False
    torch.testing.assert_close(pooled, ref_pooled)
    torch.testing.assert_close(tokens, ref_tokens @ visual.proj)


def test_threads_share_one_model() -> None:
    """8 threads x 10 calls of patch tokens and embeddings agree with the serial results."""
    torch.set_num_threads(1)
    clip = _model()
    rng = np.random.default_rng(2)
    batches = [rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8) for _ in range(4)]
    serial = [(clip.encode_images(b), clip.patch_tokens_batch(b)) for b in batches]

    def work(k: int) -> bool:
        b = k % len(batches)
        emb, tok = clip.encode_images(batches[b]), clip.patch_tokens_batch(batches[b])
        return torch.allclose(emb, serial[b][0]) and torch.allclose(tok, serial[b][1])

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(80)))
