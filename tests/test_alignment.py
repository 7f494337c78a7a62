"""LiT alignment on the catalogue: held-out retrieval improves, held-out items never trained on."""
from __future__ import annotations

import copy

import pytest
import torch

from retrieval import LeakageError, assert_disjoint, fold_split, holdout_split, text_to_image_scores, train_alignment


def test_split_is_stable_and_disjoint():
    ids = [str(i) for i in range(1000)]
    split = holdout_split(ids, 0.2)
    assert 150 < len(split.test) < 250
    assert set(split.train).isdisjoint(split.test)
    grown = holdout_split(ids + [str(i) for i in range(1000, 1500)], 0.2)
    assert set(split.test) <= set(grown.test)      # items keep their side as the catalogue grows
    with pytest.raises(LeakageError, match="1 test items"):
        assert_disjoint(["a", "b"], ["b", "c"])


def test_folds_hold_out_every_item_once():
    ids = [str(i) for i in range(1000)]
    folds = [fold_split(ids, k, 5) for k in range(5)]
    held_out = sorted(row for f in folds for row in f.test.tolist())
    assert held_out == list(range(1000))                  # each item held out by exactly one fold
    assert folds[0].test.tolist() == holdout_split(ids, 0.2).test.tolist()
    with pytest.raises(ValueError, match="fold 5"):
        fold_split(ids, 5, 5)


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


def test_captions_and_the_trained_stage_are_learned_and_the_rest_stays_frozen(catalog):
    from retrieval import caption_features, create_encoder, tower_features

    local = create_encoder("lit-effnet-lite0-minilm-mlp-stage7")
    features = tower_features(catalog.products, local)
    split = holdout_split([p.id for p in catalog.products], 0.2)
    captions = caption_features(catalog.products, local)
    assert set(captions.owner.tolist()) == set(range(len(catalog.products)))
    product = catalog.products[0]
    assert product.captions[0] == product.title and product.text in product.captions
    kind = f"{product.gender} {product.colour} {product.article_type}"
    assert f"{kind} {product.category} {product.subcategory}" in product.captions  # broad names
    assert kind in product.captions_with(category_path=False)
    trunk = local.model.visual.trunk
    stem, last = trunk.conv_stem.weight.clone(), trunk.conv_head.weight.clone()
    text_layer = local.model.text.transformer.encoder.layer[-1].output.dense.weight.clone()
    test = features.subset(split.test)
    before = text_to_image_scores(local, test)
    history = train_alignment(local, features.subset(split.train),
                              captions.subset(split.train), epochs=8, batch_size=128)
    assert history[-1] < history[0]
    assert text_to_image_scores(local, test).recall_at_10 > before.recall_at_10
    assert not torch.equal(trunk.conv_head.weight, last)              # the last stage learned
    assert torch.equal(trunk.conv_stem.weight, stem)                  # the frozen tower did not
    assert torch.equal(local.model.text.transformer.encoder.layer[-1].output.dense.weight,
                       text_layer)
    assert not any(p.requires_grad for p in local.model.parameters())


def test_captions_of_a_subset_keep_their_products():
    import numpy as np

    from retrieval import Captions

    caps = Captions(np.arange(5, dtype=np.float32)[:, None], np.array([0, 0, 1, 2, 2]))
    sub = caps.subset(np.array([2, 0]))
    assert sub.owner.tolist() == [1, 1, 0, 0]          # renumbered to positions in the subset
    assert sub.text[:, 0].tolist() == [0.0, 1.0, 3.0, 4.0]
