"""Cluster quality of the fused item vectors: KMeans and HDBSCAN after dimension reduction."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import davies_bouldin_score, normalized_mutual_info_score, silhouette_score

from retrieval import DEFAULT_FUSION, NOISE, fit_fusion, hdbscan_clusters, item_labels, kmeans, name_clusters, purity, reduce

from ..context import Context
from ..result import SuiteResult

SILHOUETTE_SAMPLE = 5000


def quality(clustering, reduced, article, colour, seed) -> dict:
    labels = clustering.labels
    keep = labels != NOISE
    m = {"clusters": clustering.n_clusters, "noise_fraction": clustering.noise_fraction}
    if clustering.n_clusters >= 2:
        sample = min(SILHOUETTE_SAMPLE, int(keep.sum()))
        m["silhouette"] = float(silhouette_score(reduced[keep], labels[keep], sample_size=sample,
                                                 random_state=seed))
        m["davies_bouldin"] = float(davies_bouldin_score(reduced[keep], labels[keep]))
    for name, truth in (("article_type", article), ("colour", colour)):
        m[f"purity_{name}"] = purity(labels, truth)
        m[f"nmi_{name}"] = float(normalized_mutual_info_score(truth[keep], labels[keep]))
    return m


def run(ctx: Context) -> SuiteResult:
    products = ctx.catalog.products
    emb = ctx.embeddings
    vectors = fit_fusion(DEFAULT_FUSION, emb, item_labels(products)).items(emb)
    reduced = reduce(vectors, dim=16, method="umap", seed=ctx.seed)
    article, colour = ctx.labels("article_type"), ctx.labels("colour")
    n_types = len(set(article.tolist()))
    min_size = max(20, len(products) // 400)
    results = {"kmeans": kmeans(reduced, k=min(n_types, 60), seed=ctx.seed),
               "hdbscan": hdbscan_clusters(reduced, min_cluster_size=min_size)}
    metrics, rows = {}, []
    for name, clustering in results.items():
        name_clusters(clustering, products)
        m = quality(clustering, reduced, article, colour, ctx.seed)
        biggest = [clustering.names[label] for label, _ in clustering.sizes().most_common()
                   if label != NOISE][:5]
        metrics[name] = {**m, "params": clustering.params, "largest_clusters": biggest}
        rows.append([name, m["clusters"], f"{m['noise_fraction']:.3f}",
                     f"{m.get('silhouette', float('nan')):.3f}",
                     f"{m.get('davies_bouldin', float('nan')):.3f}",
                     f"{m['purity_article_type']:.3f}", f"{m['nmi_article_type']:.3f}",
                     f"{m['purity_colour']:.3f}", f"{m['nmi_colour']:.3f}"])
    plot = "clusters_map.png"
    xy = reduce(vectors, dim=2, method="umap", seed=ctx.seed, min_dist=0.3)
    labels = results["hdbscan"].labels
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.scatter(*xy[labels == NOISE].T, s=1, c="lightgrey", label="noise")
    ax.scatter(*xy[labels != NOISE].T, s=1, c=labels[labels != NOISE], cmap="tab20")
    largest = [label for label, _ in results["hdbscan"].sizes().most_common(31) if label != NOISE]
    for label in largest[:30]:
        name = results["hdbscan"].names[label]
        cx, cy = np.median(xy[labels == label], axis=0)
        ax.annotate(name, (cx, cy), fontsize=6, ha="center")
    ax.set_title(f"HDBSCAN clusters of {len(products)} products (2-D UMAP of the fused vectors)")
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(ctx.out / plot, dpi=120)
    plt.close(fig)
    return SuiteResult(
        "clusters",
        {"items": len(products), "fusion": DEFAULT_FUSION, "reduction": "umap-16 (cosine)",
         "seed": ctx.seed},
        ["method", "clusters", "noise", "silhouette", "Davies-Bouldin", "purity type",
         "NMI type", "purity colour", "NMI colour"], rows, metrics,
        notes=["Silhouette and Davies-Bouldin are computed in the reduced space over clustered "
               "(non-noise) items; HDBSCAN's noise points are reported, not reassigned.",
               "largest HDBSCAN clusters: " + "; ".join(metrics["hdbscan"]["largest_clusters"])],
        plots=[plot])
