"""Clusters of the catalogue in the fused space: KMeans and HDBSCAN, each with readable names.

Vectors are reduced first (UMAP by default, PCA as the fast option): HDBSCAN stalls on raw
high-dimensional vectors. HDBSCAN's noise points keep the label -1; they are counted and
reported, never silently assigned to a cluster.

An index keeps its own clusters as a ``ClusterMap`` (a part saved beside it, ``clusters.json``):
KMeans centroids in the fused space with their names, so every product, including one added
later, belongs to the nearest centroid.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..store.products import Product
from ..store.vectors import unit

NOISE = -1
NAME_FIELDS = ("gender", "article_type", "colour", "usage", "season")


@dataclass
class Clustering:
    method: str
    labels: np.ndarray                       # one per item; -1 = noise (HDBSCAN only)
    names: dict[int, str] = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return len(set(self.labels.tolist()) - {NOISE})

    @property
    def noise_fraction(self) -> float:
        return float((self.labels == NOISE).mean())

    def sizes(self) -> Counter:
        return Counter(self.labels.tolist())


def reduce(vectors: np.ndarray, dim: int = 16, method: str = "umap", seed: int = 0,
           min_dist: float = 0.0) -> np.ndarray:
    """Lower-dimensional copy of ``vectors`` (``umap`` or ``pca``); ``min_dist`` 0 packs clusters
    tightly for clustering, a larger one spreads them for a readable 2-D map."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=dim, random_state=seed).fit_transform(vectors).astype(np.float32)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=dim, n_neighbors=30, min_dist=min_dist, metric="cosine",
                         random_state=seed, low_memory=True).fit_transform(vectors).astype(np.float32)
    raise ValueError(f"unknown reduction {method!r}: use 'umap' or 'pca'")


def kmeans(reduced: np.ndarray, k: int, seed: int = 0) -> Clustering:
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(reduced)
    return Clustering("kmeans", labels, params={"k": k})


def hdbscan_clusters(reduced: np.ndarray, min_cluster_size: int = 50,
                     min_samples: int | None = 10) -> Clustering:
    import hdbscan

    model = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples,
                            core_dist_n_jobs=1)
    labels = model.fit_predict(reduced)
    return Clustering("hdbscan", labels, params={"min_cluster_size": min_cluster_size,
                                                 "min_samples": min_samples})


def name_clusters(clustering: Clustering, products: Sequence[Product], top: int = 3) -> dict[int, str]:
    """Name each cluster by its most distinctive attribute values: those much more frequent in the
    cluster than in the catalogue (lift) and common inside it (share), e.g. "Women Kurtas, Blue"."""
    labels = clustering.labels
    overall: dict[str, Counter] = {f: Counter(getattr(p, f) for p in products) for f in NAME_FIELDS}
    n = len(products)
    names = {}
    for label in sorted(set(labels.tolist()) - {NOISE}):
        members = [products[i] for i in np.flatnonzero(labels == label)]
        scored = []
        for f in NAME_FIELDS:
            for value, count in Counter(getattr(p, f) for p in members).items():
                if not value:
                    continue
                share = count / len(members)
                lift = share / (overall[f][value] / n)
                if share >= 0.4:
                    scored.append((share * np.log1p(lift), f, value))
        chosen: dict[str, str] = {}
        for _, f, value in sorted(scored, reverse=True):
            if len(chosen) == top:
                break
            if not any(value.lower() in v.lower() or v.lower() in value.lower()
                       for v in chosen.values()):         # no "Sports Shoes ... Sports"
                chosen[f] = value
        words = [chosen[f] for f in NAME_FIELDS if f in chosen]
        names[label] = " ".join(words) if words else f"mixed cluster {label}"
    clustering.names = names
    return names


def purity(labels: np.ndarray, truth: Sequence[str]) -> float:
    """Share of clustered (non-noise) items whose cluster's majority class is their class."""
    truth = np.asarray(truth)
    keep = labels != NOISE
    total = 0
    for label in set(labels[keep].tolist()):
        total += Counter(truth[labels == label].tolist()).most_common(1)[0][1]
    return total / max(keep.sum(), 1)


def default_k(n: int) -> int:
    """About sqrt(n/2) clusters, 2 to 64: browsable groups for 100 or 50,000 products."""
    return int(min(64, max(2, round((n / 2) ** 0.5))))


@dataclass
class ClusterMap:
    """Named KMeans clusters of an index's fused vectors; a product's cluster is its nearest
    centroid (cosine)."""
    FILE: ClassVar[str] = "clusters.json"
    centroids: np.ndarray                 # (k, dim), unit rows
    names: dict[int, str]

    @classmethod
    def fit(cls, vectors: np.ndarray, products: Sequence[Product], k: int | None = None,
            seed: int = 0) -> ClusterMap:
        from sklearn.cluster import KMeans

        scaled = unit(vectors)
        k = min(k or default_k(len(scaled)), len(scaled))
        model = KMeans(n_clusters=k, n_init=2, random_state=seed).fit(scaled)
        clustering = Clustering("kmeans", model.labels_, params={"k": k})
        names = name_clusters(clustering, products)
        return cls(unit(model.cluster_centers_).astype(np.float32), names)

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """The cluster of each row of ``vectors`` (fused space)."""
        return np.argmax(np.atleast_2d(vectors) @ self.centroids.T, axis=1)

    def name(self, label: int) -> str:
        return self.names.get(int(label), f"cluster {label}")

    def save(self, folder: Path) -> None:
        (Path(folder) / self.FILE).write_text(json.dumps(
            {"centroids": np.round(self.centroids, 6).tolist(),
             "names": {str(k): v for k, v in self.names.items()}}))

    @classmethod
    def load(cls, folder: Path) -> ClusterMap:
        data = json.loads((Path(folder) / cls.FILE).read_text())
        return cls(np.asarray(data["centroids"], np.float32),
                   {int(k): v for k, v in data["names"].items()})
