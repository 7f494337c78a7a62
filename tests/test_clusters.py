"""Clustering of fused vectors: readable names, noise kept as noise, purity by hand."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval import (
    NOISE,
    Clustering,
    ClusterMap,
    create_fusion,
    default_k,
    hdbscan_clusters,
    kmeans,
    name_clusters,
    project,
    purity,
    reduce,
)


def test_purity_by_hand():
    labels = np.array([0, 0, 0, 1, 1, NOISE])
    truth = ["a", "a", "b", "c", "c", "a"]
    assert purity(labels, truth) == 4 / 5      # noise is left out


def test_clusters_of_a_catalogue_slice(shop_features, standin, shop_catalog):
    emb = project(shop_features, standin)
    vectors = create_fusion("weighted").fit(emb).items(emb)
    reduced = reduce(vectors, dim=8, method="pca")
    assert reduced.shape == (len(shop_catalog), 8)
    km = kmeans(reduced, k=8)
    assert km.n_clusters == 8 and km.noise_fraction == 0
    hd = hdbscan_clusters(reduced, min_cluster_size=5, min_samples=3)
    assert hd.n_clusters >= 2
    assert set(hd.labels.tolist()) <= set(range(-1, hd.n_clusters))
    names = name_clusters(km, shop_catalog.products)
    assert set(names) == set(range(8))
    # Names come from the members' attributes: every named value is frequent in its cluster.
    for label, name in names.items():
        members = [shop_catalog.products[i] for i in np.flatnonzero(km.labels == label)]
        values = {v for p in members for v in (p.gender, p.article_type, p.colour, p.usage,
                                               p.season) if v}
        assert name.startswith("mixed cluster") or any(v in name for v in values)


def test_noise_is_not_reassigned():
    rng = np.random.default_rng(0)
    blobs = np.vstack([rng.normal(0, 0.05, (60, 2)), rng.normal(5, 0.05, (60, 2)),
                       rng.uniform(-20, 20, (15, 2))]).astype(np.float32)
    result = hdbscan_clusters(blobs, min_cluster_size=20, min_samples=5)
    assert result.n_clusters == 2
    assert (result.labels[-15:] == NOISE).sum() >= 10
    assert result.noise_fraction > 0
    assert isinstance(result, Clustering)


def test_index_keeps_named_clusters_that_new_products_join(shop_index, tmp_path, shop_catalog, shop_features,
                                                           standin):
    """The build saves the clusters; every product is in the cluster of its nearest centroid,
    a cluster lists its members nearest the centre first, and a product added after the build
    joins a cluster (the clusters are carried into the next generation)."""
    import shutil

    from retrieval import ProductIndex, QueryError, Searcher

    folder = tmp_path / "idx"
    shutil.copytree(shop_index, folder)
    searcher = Searcher(folder)
    assert searcher.index.part_path(ClusterMap) is not None
    clusters = searcher.clusters
    assert len(clusters.centroids) == default_k(len(shop_catalog))
    pid = searcher.index.all_ids()[0]
    label, name = searcher.cluster_of(pid)
    assert name == clusters.names[label] and name
    members = searcher.cluster(label, k=len(shop_catalog))
    assert pid in {r.id for r in members}
    assert all(searcher.cluster_of(r.id)[0] == label for r in members)
    assert [r.score for r in members] == sorted((r.score for r in members), reverse=True)
    with pytest.raises(QueryError, match="no cluster"):
        searcher.cluster(len(clusters.centroids))
    assert pid not in {r.id for r in searcher.cluster(label, k=len(shop_catalog), exclude=[pid])}

    first = shop_catalog.products[0]
    first_label = searcher.cluster_of(first.id)[0]
    index = searcher.index
    index.remove([first.id])
    index.save(folder)
    index = ProductIndex.load(folder)
    index.add([first], project(shop_features, standin).subset(np.arange(1)))
    index.save(folder)
    again = Searcher(folder)
    assert np.allclose(again.clusters.centroids, clusters.centroids)
    assert again.cluster_of(first.id)[0] == first_label
