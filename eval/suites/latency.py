"""Index build throughput and memory, query latency of USearch HNSW vs exact search, recall@10."""
from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from retrieval.build import DEFAULT_FUSION, peak_rss_mb
from retrieval.fusion import create_fusion, item_labels
from retrieval.index import ProductIndex

from ..stats import percentiles
from . import SuiteResult

N_QUERIES = 500
TEXT_QUERIES = ["navy blue shirt for men", "red handbag", "black running shoes", "white sneakers",
                "floral summer dress", "leather wallet", "denim jeans", "gold watch for women",
                "kids t-shirt", "linen kurta"]


def _time(fn, n):
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def run(ctx) -> SuiteResult:
    products = ctx.catalog.products
    emb = ctx.embeddings
    fusion = create_fusion(DEFAULT_FUSION).fit(emb, item_labels(products))
    index = ProductIndex(fusion, ctx.encoder.embed_dim, encoder=ctx.encoder_spec)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    index.add(products, emb)
    build_s = time.perf_counter() - start
    ids = [p.id for p in products]
    rows = ctx.query_rows(N_QUERIES)
    vectors = [index.vector(ids[r]) for r in rows]
    hnsw = [None] * len(rows)
    exact = [None] * len(rows)

    def q_hnsw(i):
        hnsw[i] = [r.id for r in index.search(vectors[i], 10)]

    def q_exact(i):
        exact[i] = [r.id for r in index.search(vectors[i], 10, exact=True)]

    t_hnsw = _time(q_hnsw, len(rows))
    t_exact = _time(q_exact, len(rows))
    recall = np.array([len(set(a) & set(b)) / 10 for a, b in zip(hnsw, exact)])
    encoder = ctx.encoder

    def q_text(i):
        index.search(fusion.query(encoder.encode_texts([TEXT_QUERIES[i % len(TEXT_QUERIES)]]))[0], 10)

    t_text = _time(q_text, 100)
    p_h, p_e, p_t = percentiles(t_hnsw), percentiles(t_exact), percentiles(t_text)
    n = len(products)
    metrics = {
        "items": n, "hnsw_build_s": build_s, "hnsw_build_items_per_s": n / build_s,
        "peak_rss_mb": peak_rss_mb(), "peak_rss_mb_before_index": rss_before,
        "hnsw_ms": p_h, "exact_ms": p_e, "text_query_end_to_end_ms": p_t,
        "hnsw_recall@10_vs_exact": float(recall.mean()),
        "speedup_p50_exact_over_hnsw": p_e["p50"] / p_h["p50"],
    }
    plot = "latency.png"
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist([t_hnsw, t_exact], bins=40, label=["HNSW", "exact"], log=True)
    ax.set_xlabel("query latency (ms), fused item vectors, k=10")
    ax.legend()
    fig.tight_layout()
    fig.savefig(ctx.out / plot, dpi=110)
    plt.close(fig)
    table = [["USearch HNSW", f"{p_h['p50']:.2f}", f"{p_h['p99']:.2f}", f"{recall.mean():.4f}"],
             ["exact (brute force)", f"{p_e['p50']:.2f}", f"{p_e['p99']:.2f}", "1.0000"],
             ["text query (encode+HNSW)", f"{p_t['p50']:.2f}", f"{p_t['p99']:.2f}", "-"]]
    return SuiteResult(
        "latency",
        {"items": n, "queries": len(rows), "k": 10, "fusion": DEFAULT_FUSION,
         "dim": index.dim, **index.params},
        ["search", "p50 ms", "p99 ms", "recall@10 vs exact"], table, metrics,
        notes=[f"HNSW construction: {n} vectors in {build_s:.1f}s ({n / build_s:.0f} items/s); "
               f"peak RSS {metrics['peak_rss_mb']:.0f} MB",
               f"exact/HNSW p50 latency ratio {metrics['speedup_p50_exact_over_hnsw']:.1f}x "
               "(measured in the same run)"],
        plots=[plot])
