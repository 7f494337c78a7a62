"""Fusion strategies map items and shared-space queries into one normalised space."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval import FUSIONS, Features, create_fusion, fit_fusion, fusion_from_state, item_labels, project


@pytest.fixture(scope="module")
def embeddings(shop_features, standin):
    return project(shop_features, standin)


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_fusion_items_and_queries(name, embeddings, shop_catalog, standin):
    fusion = fit_fusion(name, embeddings, item_labels(shop_catalog.products))
    items = fusion.items(embeddings)
    assert items.shape == (len(shop_catalog), fusion.dim(standin.embed_dim))
    assert np.allclose(np.linalg.norm(items, axis=1), 1, atol=1e-4)
    query = fusion.query(embeddings.text[0])
    assert query.shape == (1, items.shape[1])
    # A product's own text, as a query, ranks the product among the top few.
    ranks = [(items @ fusion.query(embeddings.text[i])[0] > items[i] @ fusion.query(
        embeddings.text[i])[0]).sum() for i in range(40)]
    assert np.median(ranks) < 5
    # State round trip gives the same vectors.
    state = fusion.state()
    again = fusion_from_state(state)
    assert np.allclose(again.items(embeddings), items, atol=1e-5)


def test_missing_modality_is_filled_from_the_other(embeddings):
    fusion = create_fusion("weighted")
    e = embeddings.subset(np.arange(3))
    no_image = Features(np.zeros_like(e.image), e.text, np.zeros(3, bool), e.has_text)
    fused = fusion.items(no_image)
    assert np.allclose(fused, e.text / np.linalg.norm(e.text, axis=1, keepdims=True), atol=1e-5)


def test_projection_needs_labels(embeddings):
    with pytest.raises(ValueError, match="labels"):
        fit_fusion("projection", embeddings)
