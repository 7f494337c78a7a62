"""Speed and memory: build throughput by stage, query latency by query kind, and ANN backends
(USearch HNSW, FAISS HNSW, exact search) at the catalogue's size and on synthetic vectors,
with recall@10 of each against exact search measured in the same run."""
from __future__ import annotations

import time

import faiss
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from usearch.index import Index, MetricKind
from usearch.index import search as exact_search

from retrieval import (
    DEFAULT_FUSION,
    ProductIndex,
    Vocabulary,
    composed_search,
    fit_fusion,
    item_labels,
    open_rgb,
    peak_rss_mb,
    unit,
)

from ..context import Context
from ..result import SuiteResult
from ..stats import percentiles

K = 10
TEXT_QUERIES = ["navy blue shirt for men", "red handbag", "black running shoes", "white sneakers",
                "floral summer dress", "leather wallet", "denim jeans", "gold watch for women",
                "kids t-shirt", "linen kurta"]
COMPOSED_MODIFIERS = ("but in black", "in cotton", "cheaper")
CONNECTIVITY, EF_ADD, EF_SEARCH = 16, 128, 128


def truth_of(vectors: np.ndarray, queries: np.ndarray, keys: np.ndarray | None = None) -> list[set]:
    """Each query's exact top ``K`` keys by inner product (among ``keys`` rows, if given)."""
    data = vectors if keys is None else vectors[keys]
    found = exact_search(data, queries, K, MetricKind.IP, exact=True).keys
    return [set((r if keys is None else keys[r]).tolist()) for r in found]


def recall_at_k(found, truth: list[set]) -> float:
    """Mean share of each query's exact top ``K`` among the keys found for it."""
    return float(np.mean([len(set(map(int, f)) & t) / K for f, t in zip(found, truth)]))


def timed_ms(fn, n: int) -> np.ndarray:
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def stage_throughput(ctx, sample: int = 128) -> dict[str, float]:
    """Items per second of each build stage, on a sample encoded without the cache."""
    products = [p for p in ctx.catalog.products if p.has_image][:sample]
    enc = ctx.encoder
    out = {}
    start = time.perf_counter()
    images = [open_rgb(p.image_path)[0] for p in products]
    out["decode images"] = len(images) / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(images), 64):
        enc.image_tower(images[i:i + 64])
    out["image tower"] = len(images) / (time.perf_counter() - start)
    texts = [p.text for p in products]
    start = time.perf_counter()
    for i in range(0, len(texts), 64):
        enc.text_tower(texts[i:i + 64])
    out["text tower"] = len(texts) / (time.perf_counter() - start)
    return out


def backends(vectors: np.ndarray, queries: np.ndarray, label: str) -> tuple[list, dict]:
    """Build each backend over ``vectors`` and time ``queries`` one at a time."""
    n, dim = vectors.shape
    truth = truth_of(vectors, queries)
    results, rows = {}, []

    def record(name, build_s, mem_mb, search):
        found = [None] * len(queries)

        def one(i):
            found[i] = search(queries[i:i + 1])

        lat = percentiles(timed_ms(one, len(queries)))
        recall = recall_at_k(found, truth)
        results[name] = {"build_s": build_s, "build_items_per_s": n / build_s if build_s else None,
                         "memory_mb": mem_mb, "latency_ms": lat, "recall@10": recall}
        rows.append([label, name, f"{n / build_s:,.0f}" if build_s else "-",
                     f"{mem_mb:,.0f}", f"{lat['p50']:.3f}", f"{lat['p99']:.3f}", f"{recall:.4f}"])

    # The index's metric (inner product on unit vectors), and USearch's cos metric it replaced
    for name, metric in (("USearch HNSW", MetricKind.IP), ("USearch HNSW, cos metric", MetricKind.Cos)):
        start = time.perf_counter()
        index = Index(ndim=dim, metric=metric, dtype="f32", connectivity=CONNECTIVITY,
                      expansion_add=EF_ADD, expansion_search=EF_SEARCH)
        index.add(np.arange(n), vectors, log=f"{name} ({label})" if n >= 100_000 else False)
        build = time.perf_counter() - start
        record(name, build, index.memory_usage / 2**20, lambda q, index=index: index.search(q[0], K).keys)
        del index

    start = time.perf_counter()
    fidx = faiss.IndexHNSWFlat(dim, CONNECTIVITY, faiss.METRIC_INNER_PRODUCT)
    fidx.hnsw.efConstruction = EF_ADD
    fidx.hnsw.efSearch = EF_SEARCH
    fidx.add(vectors)
    build = time.perf_counter() - start
    record("FAISS HNSW", build, faiss.serialize_index(fidx).nbytes / 2**20,
           lambda q, fidx=fidx: fidx.search(q, K)[1][0])
    del fidx

    flat = faiss.IndexFlatIP(dim)
    start = time.perf_counter()
    flat.add(vectors)
    record("FAISS exact", time.perf_counter() - start, vectors.nbytes / 2**20,
           lambda q: flat.search(q, K)[1][0])
    record("USearch exact", 0.0, vectors.nbytes / 2**20,
           lambda q: exact_search(vectors, q[0], K, MetricKind.IP, exact=True).keys)
    return rows, results


def synthetic(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` vectors shaped like the catalogue's: random catalogue vectors plus noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        chunk = base[rng.integers(0, len(base), stop - start)]
        chunk = chunk + rng.normal(0, 0.6 / np.sqrt(base.shape[1]), chunk.shape).astype(np.float32)
        out[start:stop] = unit(chunk)
    return out


def run(ctx: Context) -> SuiteResult:
    products = ctx.catalog.products
    ids = [p.id for p in products]
    emb = ctx.embeddings
    encoder = ctx.encoder
    stages = stage_throughput(ctx)
    fusion = fit_fusion(DEFAULT_FUSION, emb, item_labels(products))
    index = ProductIndex(fusion, encoder.embed_dim, encoder=ctx.encoder_spec)
    start = time.perf_counter()
    index.add(products, emb)
    stages["fuse + HNSW insert + SQLite"] = len(products) / (time.perf_counter() - start)

    # Query latency by kind, end to end (encoding included), against the catalogue index.
    rows = ctx.query_rows(200)
    photos = [open_rgb(products[r].image_path)[0] for r in rows[:50]]
    titles = [products[r].title for r in rows[:100]]       # texts no query has used: encoded
    kinds = {
        "text": timed_ms(lambda i: index.search(
            fusion.query(encoder.encode_texts([titles[i]]))[0], K), len(titles)),
        "text, repeated": timed_ms(lambda i: index.search(      # a query text seen before: kept
            fusion.query(encoder.encode_texts([TEXT_QUERIES[i % len(TEXT_QUERIES)]]))[0], K), 100),
        "photo": timed_ms(lambda i: index.search(
            fusion.query(encoder.encode_images([photos[i]]))[0], K), len(photos)),
        "item": timed_ms(lambda i: index.search(index.vector(ids[rows[i]]), K,
                                                exclude=[ids[rows[i]]]), len(rows)),
    }
    vocab = Vocabulary(index)
    text_vector = lambda text: fusion.query(encoder.encode_texts([text]))[0]
    kinds["composed"] = timed_ms(lambda i: composed_search(
        index, index.vector(ids[rows[i]]), text_vector, COMPOSED_MODIFIERS[i % 3],
        products[rows[i]], K, vocabulary=vocab), 60)
    query_latency = {k: percentiles(v) for k, v in kinds.items()}

    vectors = index.matrix()
    table, backend_metrics = [], {}
    sizes = [("catalogue", vectors)]
    n_synth = 1_000_000 if ctx.limit is None else 50_000
    sizes.append((f"synthetic {n_synth:,}", synthetic(vectors, n_synth, ctx.seed)))
    for label, data in sizes:
        queries = data[np.random.default_rng(ctx.seed).choice(len(data), 200, replace=False)]
        queries = queries + np.random.default_rng(1).normal(0, 0.01, queries.shape).astype(np.float32)
        queries = unit(queries)
        r, m = backends(np.ascontiguousarray(data), np.ascontiguousarray(queries), label)
        table += r
        backend_metrics[label] = {"items": len(data), **m}
    del sizes

    plot = "latency.png"
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    axes[0].boxplot(list(kinds.values()), tick_labels=list(kinds), showfliers=False)
    axes[0].set_ylabel("ms per query (encode + search)")
    axes[0].set_title("query latency by kind")
    for label, m in backend_metrics.items():
        names = [k for k in m if k != "items"]
        axes[1].scatter([m[k]["recall@10"] for k in names],
                        [m[k]["latency_ms"]["p50"] for k in names], label=label)
        for k in names:
            axes[1].annotate(k, (m[k]["recall@10"], m[k]["latency_ms"]["p50"]), fontsize=7)
    axes[1].set_yscale("log")
    axes[1].set_xlabel("recall@10 vs exact")
    axes[1].set_ylabel("p50 ms")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ctx.out / plot, dpi=110)
    plt.close(fig)
    usearch = backend_metrics["catalogue"]
    ratio = usearch["USearch exact"]["latency_ms"]["p50"] / usearch["USearch HNSW"]["latency_ms"]["p50"]
    return SuiteResult(
        "latency",
        {"items": len(products), "dim": index.dim, "k": K, "connectivity": CONNECTIVITY,
         "expansion_add": EF_ADD, "expansion_search": EF_SEARCH, "synthetic": n_synth},
        ["vectors", "backend", "build items/s", "memory MB", "p50 ms", "p99 ms", "recall@10"],
        table,
        {"stage_items_per_s": stages, "query_latency_ms": query_latency,
         "backends": backend_metrics, "peak_rss_mb": peak_rss_mb(),
         "exact_over_hnsw_p50": ratio},
        notes=["build throughput by stage (items/s): " +
               ", ".join(f"{k} {v:,.0f}" for k, v in stages.items()),
               "query latency p50/p99 ms (encoding included): " +
               ", ".join(f"{k} {v['p50']:.1f}/{v['p99']:.1f}" for k, v in query_latency.items()),
               f"USearch exact / HNSW p50 latency at catalogue size: {ratio:.1f}x; "
               f"peak RSS {peak_rss_mb():,.0f} MB"],
        plots=[plot])
