"""Training batches of PLUM-small: mirrored halves, zoomed crops, fresh scenes."""

from __future__ import annotations

import numpy as np
import torch

from mereo.data.synthparts import generate_scene
from mereo.tools.segment.training.batches import Batch, FreshScenes, flip_half, make_batch, zoom_batch
from mereo.tools.segment.training.data import scene_arrays


def test_flip_mirrors_images_targets_and_maps_together(tiny_set) -> None:
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


def test_fresh_scenes_are_new_and_deterministic() -> None:
    a, b = FreshScenes(0, 64), FreshScenes(0, 64)
    ims, parts, objects = a.batch(3)
    assert ims.shape == (3, 3, 64, 64) and parts.shape == objects.shape == (3, 64, 64)
    assert torch.equal(ims, b.batch(3)[0])  # same seed, same scenes
    assert not torch.equal(a.batch(3)[0], ims)  # the stream moves on
    image, part_map, _ = scene_arrays(generate_scene("train", 1000, 0, size=64), 64)
    assert np.array_equal(ims[0].permute(1, 2, 0).numpy(), image)
    assert np.array_equal(parts[0].numpy(), part_map)
    a.load_state_dict(b.state_dict())  # a resumed run continues the stream where it was
    assert torch.equal(a.batch(1)[0], b.batch(1)[0])


def test_zoom_batch_crops_images_targets_and_maps_together() -> None:
    n, s = 6, 64
    images = torch.zeros(n, 3, s, s, dtype=torch.uint8)
    targets = torch.zeros(n, 2, s, s)
    parts = torch.zeros(n, s, s, dtype=torch.long)
    for i in range(n):
        y, x = 10 + 3 * i, 20 + 2 * i
        images[i, 0, y : y + 10, x : x + 6] = 255
        targets[i, 0, y : y + 10, x : x + 6] = 1.0
        parts[i, y : y + 10, x : x + 6] = 7
    targets[5] = 0  # nothing to zoom on
    b = Batch(
        images=images,
        tokens=torch.zeros(n, 4, 384),
        attention=torch.ones(n, 4, dtype=torch.bool),
        tags=torch.zeros(n, 4, dtype=torch.long),
        span_index=torch.zeros(n, 2, 4),
        active=torch.tensor([[True, False]] * n),
        targets=targets,
        part_maps=parts,
        object_maps=parts.clone(),
    )
    z = zoom_batch(b, np.random.default_rng(0), 1.0)
    assert torch.equal(z.images[5], images[5]) and torch.equal(z.targets[5], targets[5])
    for i in range(5):
        red, tgt, lab = z.images[i, 0] > 127, z.targets[i, 0] > 0.5, z.part_maps[i] == 7
        assert red.sum() > 2 * (images[i, 0] > 127).sum()  # the object is seen larger
        agree = (red & tgt).sum() / (red | tgt).sum()
        assert agree > 0.9 and (lab & tgt).sum() / (lab | tgt).sum() > 0.9
    assert torch.equal(zoom_batch(b, np.random.default_rng(0), 0.0).images, images)
