"""The packaged category-name vectors equal a fresh MiniLM computation; other names are computed."""

from __future__ import annotations

import torch

from mereo.tools.encoder.runtime import load_encoder
from mereo.tools.encoder.text import compute_name_embeddings, name_embeddings, stored_vectors


def test_stored_name_vectors_are_the_committed_encoders_categories_and_match_minilm() -> None:
    names = load_encoder().category_names
    table = stored_vectors()
    assert sorted(table) == sorted(names)
    fresh = compute_name_embeddings(names)
    stored = torch.stack([table[n] for n in names])
    assert (stored - fresh).abs().max() < 1e-5


def test_names_outside_the_table_are_computed_in_order() -> None:
    out = name_embeddings(["chair", "a wheelbarrow", "chair"])
    assert out.shape == (3, 384)
    assert torch.equal(out[0], out[2]) and torch.equal(out[0], stored_vectors()["chair"])
    assert (out[1] - compute_name_embeddings(["a wheelbarrow"])[0]).abs().max() < 1e-6
    assert abs(float(out[1].norm()) - 1.0) < 1e-5
