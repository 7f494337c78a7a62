"""Item-to-item search: share of the top 5 with the query's article type (and colour), for
text-only, image-only and each fusion, over held-out query items searching the whole catalogue."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from usearch.index import MetricKind
from usearch.index import search as exact_search

from retrieval.fusion import FUSIONS, create_fusion, item_labels

from ..stats import mean_ci
from . import SuiteResult

K = 5
N_QUERIES = 500


def representations(ctx) -> dict[str, np.ndarray]:
    emb = ctx.embeddings
    train = ctx.split.train
    reps = {"text only": emb.text, "image only": emb.image}
    labels = item_labels([ctx.catalog.products[i] for i in train])
    for name in sorted(FUSIONS):
        fusion = create_fusion(name).fit(emb.subset(train), labels)   # fitted on training items
        reps[name] = fusion.items(emb)
    return reps


def top_k_neighbours(vectors: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact top ``k`` rows for each query row, the query itself excluded."""
    matches = exact_search(vectors, vectors[rows], k + 1, MetricKind.Cos, exact=True)
    out = np.empty((len(rows), k), dtype=np.int64)
    for i, row in enumerate(rows):
        keys = [int(key) for key in matches.keys[i] if int(key) != row]
        out[i] = keys[:k]
    return out


def run(ctx) -> SuiteResult:
    rows = ctx.query_rows(N_QUERIES)
    article = ctx.labels("article_type")
    colour = ctx.labels("colour")
    table, metrics = [], {}
    for name, vectors in representations(ctx).items():
        nn = top_k_neighbours(np.ascontiguousarray(vectors, dtype=np.float32), rows, K)
        same_type = (article[nn] == article[rows, None]).mean(1)
        same_both = ((article[nn] == article[rows, None]) &
                                     (colour[nn] == colour[rows, None])).mean(1)
        m1, h1 = mean_ci(same_type)
        m2, h2 = mean_ci(same_both)
        table.append([name, f"{m1:.3f} ± {h1:.3f}", f"{m2:.3f} ± {h2:.3f}"])
        metrics[name] = {"same_article_type@5": m1, "same_article_type@5_ci95": h1,
                         "same_type_and_colour@5": m2, "same_type_and_colour@5_ci95": h2}
    plot = "item2item.png"
    names = list(metrics)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh(names, [metrics[n]["same_article_type@5"] for n in names],
            xerr=[metrics[n]["same_article_type@5_ci95"] for n in names], color="#4c72b0")
    ax.axvline(0.8, color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of top-{K} with the query's article type ({len(rows)} queries)")
    fig.tight_layout()
    fig.savefig(ctx.out / plot, dpi=110)
    plt.close(fig)
    best = max(("concat", "weighted", "projection"), key=lambda n: metrics[n]["same_article_type@5"])
    return SuiteResult(
        "item2item",
        {"catalog": str(ctx.catalog_path), "items": len(ctx.catalog), "queries": len(rows), "k": K,
         "seed": ctx.seed, "encoder": ctx.encoder_spec},
        ["representation", "same article type@5", "same type+colour@5"], table,
        {**metrics, "best_fusion": best},
        notes=["Queries are held-out items (alignment and fusion never trained on them); they "
               "search the whole catalogue; the query item itself is excluded. ± is a 95% CI.",
               f"best fusion: {best}"],
        plots=[plot])
