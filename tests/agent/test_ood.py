"""Image statistics separate SynthParts scenes from noise, gradients and textures."""

from __future__ import annotations

import numpy as np

from mereo.agent.ood import STAT_NAMES, OodModel, image_statistics
from mereo.data.synthparts.compose import generate_scenes


def test_synthparts_scenes_are_in_and_noise_and_gradients_are_out() -> None:
    stats = np.array([image_statistics(s.image) for s in generate_scenes("val", 60, 0, 96)])
    assert stats.shape == (60, len(STAT_NAMES))
    model = OodModel.fit(stats)
    test = [model.distance(image_statistics(s.image)) for s in generate_scenes("test", 30, 0, 96)]
    assert np.mean(np.array(test) > model.threshold) <= 0.2
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 96), np.linspace(0, 1, 96)), -1)
    gradient = (grid @ np.array([[200.0, 30, 90], [10, 180, 60]])).clip(0, 255).astype(np.uint8)
    assert model.distance(image_statistics(noise)) > model.threshold
    assert model.distance(image_statistics(gradient)) > model.threshold
    again = OodModel.from_dict(model.to_dict())
    assert abs(again.distance(image_statistics(noise)) - model.distance(image_statistics(noise))) < 1e-2
