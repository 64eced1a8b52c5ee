"""Instance grouping from the instance embedding."""

from __future__ import annotations

import torch

from mereo.tools.encoder.instances import cluster, merge


def test_cluster_separates_two_groups_of_embeddings():
    emb = torch.zeros(2, 6, 6)
    emb[0, :, 3:] = 3.0  # right half far from the left half
    fg = torch.ones(6, 6, dtype=torch.bool)
    fg[0, 0] = False
    groups = cluster(emb, fg)
    assert len(groups) == 2
    assert {int(g.sum()) for g in groups} == {17, 18}
    assert not (groups[0] & groups[1]).any()


def test_merge_joins_clusters_whose_centres_are_close():
    emb = torch.zeros(1, 1, 4)
    emb[0, 0, 2:] = 1.0  # two clusters 1.0 apart: one object
    a = torch.tensor([[True, True, False, False]])
    b = ~a
    assert len(merge(emb, [a, b])) == 1
    emb[0, 0, 2:] = 5.0  # far apart: two objects
    assert len(merge(emb, [a, b])) == 2
