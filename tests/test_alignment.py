"""LiT alignment on the catalogue: held-out retrieval improves, held-out items never trained on."""
from __future__ import annotations

import copy

import pytest

from retrieval.alignment import text_to_image_scores, train_alignment
from retrieval.splits import LeakageError, assert_disjoint, holdout_split


def test_split_is_stable_and_disjoint():
    ids = [str(i) for i in range(1000)]
    split = holdout_split(ids, 0.2)
    assert 150 < len(split.test) < 250
    assert set(split.train).isdisjoint(split.test)
    grown = holdout_split(ids + [str(i) for i in range(1000, 1500)], 0.2)
    assert set(split.test) <= set(grown.test)      # items keep their side as the catalogue grows
    with pytest.raises(LeakageError, match="1 test items"):
        assert_disjoint(["a", "b"], ["b", "c"])


def test_training_improves_held_out_text_to_image_retrieval(encoder, catalog, features):
    local = copy.deepcopy(encoder)
    split = holdout_split([p.id for p in catalog.products], 0.2)
    test = features.subset(split.test)
    before = text_to_image_scores(local, test)
    history = train_alignment(local, features.subset(split.train), epochs=40, batch_size=128)
    after = text_to_image_scores(local, test)
    assert history[-1] < history[0]
    assert after.recall_at_10 > before.recall_at_10
    assert after.mrr > before.mrr
    assert local.projection_identity != encoder.projection_identity
