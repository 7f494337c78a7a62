"""Scaling out on Ray: the build's towers on Ray Data against this process, the vectors in USearch
shards on Ray actors against one index, and what 10M and 100M products would take.

- Build: the image and text towers over the same products with an empty feature cache, in this
  process (torch on every core) and on a local Ray Data pipeline with 1 and 2 actors of one CPU;
  items/s over the whole stage (actors' start included) and per item beyond a small run.
- Shards: synthetic unit vectors shaped like the catalogue's fused ones (1M on the full run), compared by
  inner product as the product index does, in one in-process
  USearch index and in 1, 2 and 4 shards on Ray actors (``retrieval.store.shards``); query latency
  one query at a time, recall@10 against exact search, memory per shard.
- Projection: the measured per-worker build rate and bytes per vector carried to 10M and 100M
  products (linear in workers and vectors: an assumption, stated beside the table).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from usearch.index import Index, MetricKind

from retrieval import FeatureCache, LocalEngine, RayEngine, ShardedVectors, tower_features

from ..context import Context
from ..result import SuiteResult
from ..stats import percentiles
from .latency import CONNECTIVITY, EF_ADD, EF_SEARCH, K, recall_at_k, synthetic, timed_ms, truth_of

SHARDS = (1, 2, 4)
QUERIES = 200
TARGETS = (10_000_000, 100_000_000)
FIXED = 4
MACHINES = (1, 10, 100)
SMALL_RUN = " (whole stage: the run was too small to measure the per-item rate)"


def build_rates(ctx: Context, n: int) -> dict[str, dict]:
    """Items/s of the tower stage (photos decoded, both towers) per engine, empty caches: over
    ``n`` products, and per product beyond the first ``FIXED`` (the fixed cost, on Ray the actors'
    start, left out by timing a run of ``FIXED`` products too)."""
    products = [p for p in ctx.catalog.products if p.has_image and p.text.strip()][:n]
    engines = {"this process": LocalEngine, "Ray Data, 1 worker": lambda: RayEngine(workers=1),
               "Ray Data, 2 workers": lambda: RayEngine(workers=2)}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in engines.items():
            engine, seconds = make(), {}
            for size in (FIXED, len(products)):
                start = time.perf_counter()
                tower_features(products[:size], ctx.base_encoder,
                               FeatureCache(Path(tmp) / f"{len(out)}-{size}.sqlite"), engine=engine)
                seconds[size] = time.perf_counter() - start
            total, fixed = seconds[len(products)], seconds[FIXED]
            out[name] = {"items": len(products), "seconds": total, "items_per_s": len(products) / total,
                         "fixed_s": fixed, "marginal_items_per_s": marginal(len(products), total, fixed)}
    return out


def marginal(n: int, total: float, fixed: float) -> float | None:
    """Items/s beyond the first ``FIXED``, or None when the larger run took no measurably longer
    (a quick run too small to tell the per-item cost from the noise)."""
    extra = total - fixed
    return (n - FIXED) / extra if extra > 0.1 * total else None


def shard_rows(vectors: np.ndarray, queries: np.ndarray) -> dict[str, dict]:
    """Build, latency, recall@10 and memory of one index and of 1, 2, 4 shards."""
    n, dim = vectors.shape
    truth = truth_of(vectors, queries)
    params = dict(connectivity=CONNECTIVITY, expansion_add=EF_ADD, expansion_search=EF_SEARCH, dtype="f32")
    keys = np.arange(n, dtype=np.int64)
    out = {}
    for shards in (0, *SHARDS):
        start = time.perf_counter()
        if shards:
            index = ShardedVectors(shards, dim, "ip", **params)
            for lo in range(0, n, 100_000):            # the object store takes it in parts
                index.add(keys[lo:lo + 100_000], vectors[lo:lo + 100_000])
            memory = [s["memory_bytes"] for s in index.stats()]
        else:
            index = Index(ndim=dim, metric=MetricKind.IP, **params)
            index.add(keys, vectors)
            memory = [index.memory_usage]
        build = time.perf_counter() - start
        found = [None] * len(queries)

        def one(i, index=index, found=found):
            found[i] = [h.key for h in index.search(queries[i], K)]

        latency = percentiles(timed_ms(one, len(queries)))
        recall = recall_at_k(found, truth)
        out["one index, in process" if not shards else f"{shards} shard{'s' * (shards > 1)} on Ray"] = {
            "shards": shards, "build_s": build, "latency_ms": latency, "recall@10": recall,
            "memory_per_shard_mb": float(np.max(memory)) / 2**20, "memory_mb": float(np.sum(memory)) / 2**20}
        del index
    return out


def projection(per_worker: float, bytes_per_vector: float, graph_bytes: float, dim: int) -> list[list]:
    """Build hours on K machines like this one (2 workers each) and index sizes per product count."""
    rows = []
    for n in TARGETS:
        hours = [n / (per_worker * 2 * k) / 3600 for k in MACHINES]
        rows.append([f"{n:,}", *[f"{h:,.1f}" for h in hours], f"{n * bytes_per_vector / 2**30:,.1f}",
                     f"{n * (graph_bytes + 2 * dim) / 2**30:,.1f}", f"{n * (graph_bytes + dim) / 2**30:,.1f}"])
    return rows


def run(ctx: Context) -> SuiteResult:
    full = ctx.limit is None
    build = build_rates(ctx, 600 if full else 96)
    base = ctx.index.matrix()                  # the catalogue's fused vectors
    n_synth = 1_000_000 if full else 50_000
    synth = synthetic(base, n_synth, ctx.seed)
    queries = synthetic(base, QUERIES, ctx.seed + 1)
    shards = shard_rows(synth, queries)
    single = shards["one index, in process"]
    dim = synth.shape[1]
    bytes_per_vector = single["memory_mb"] * 2**20 / n_synth
    graph = bytes_per_vector - 4 * dim
    one = build["Ray Data, 1 worker"]
    worker = one["marginal_items_per_s"] or one["items_per_s"]
    rows = [["build", name, f"{b['items_per_s']:.1f}", _rate(b["marginal_items_per_s"]),
             f"{b['fixed_s']:.1f}", "-", "-", "-", "-"] for name, b in build.items()]
    rows += [[f"search, {n_synth:,} vectors", name, f"{n_synth / s['build_s']:,.0f}", "-", "-",
              f"{s['latency_ms']['p50']:.3f}", f"{s['latency_ms']['p99']:.3f}", f"{s['recall@10']:.4f}",
              f"{s['memory_per_shard_mb']:,.0f}"] for name, s in shards.items()]
    table = projection(worker, bytes_per_vector, graph, dim)
    _plot(ctx.out / "scale.png", build, shards)
    return SuiteResult(
        name="scale",
        config={"build_items": next(iter(build.values()))["items"], "synthetic": n_synth, "dim": dim,
                "shards": list(SHARDS), "queries": QUERIES, "connectivity": CONNECTIVITY,
                "expansion_add": EF_ADD, "expansion_search": EF_SEARCH},
        columns=["what", "engine / index", "items/s", f"items/s beyond the first {FIXED}",
                 f"seconds for {FIXED} items", "p50 ms", "p99 ms", "recall@10", "memory per shard MB"],
        rows=rows,
        metrics={"build": build, "shards": shards,
                 "projection": {"per_worker_items_per_s": worker, "bytes_per_vector_f32": bytes_per_vector,
                                "graph_bytes_per_vector": graph, "rows": table}},
        notes=["Build rows: the tower stage (photos decoded, image and text towers) over the same "
               "products with an empty feature cache (each product's text; captions, encoded by "
               f"the same engine, left out); 'beyond the first {FIXED}': (n - {FIXED}) / (time for "
               f"n - time for {FIXED}), leaving out the fixed cost (on Ray: the actors' start, "
               "torch and the towers loaded in each, once per tower).",
               "Projection (machines like this one, 2 one-CPU workers each; linear in workers, "
               f"from the 1-worker rate {worker:.1f} items/s"
               f"{'' if one['marginal_items_per_s'] else SMALL_RUN}; index size from the measured "
               f"{bytes_per_vector:,.0f} bytes per vector at f32, {graph:,.0f} of them graph): " +
               "; ".join(f"{r[0]} products: build {r[1]} h on 1 machine, {r[2]} h on 10, {r[3]} h "
                         f"on 100; index {r[4]} GiB at f32, {r[5]} GiB at f16, {r[6]} GiB at i8"
                         for r in table)],
        plots=["scale.png"],
    )


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _plot(path, build: dict, shards: dict) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(build)
    a.bar(names, [build[n]["items_per_s"] for n in names], label="whole stage")
    a.bar(names, [build[n]["marginal_items_per_s"] or 0 for n in names], alpha=0.5,
          label=f"beyond the first {FIXED}")
    a.set_ylabel("items/s (photos and texts encoded)")
    a.set_title("Tower stage: this process vs Ray Data")
    a.legend()
    names = list(shards)
    b.bar(names, [shards[n]["latency_ms"]["p50"] for n in names], label="p50")
    b.bar(names, [shards[n]["latency_ms"]["p99"] for n in names], alpha=0.4, label="p99")
    for i, n in enumerate(names):
        b.text(i, shards[n]["latency_ms"]["p50"], f"R@10 {shards[n]['recall@10']:.3f}", ha="center",
               va="bottom", fontsize=8)
    b.set_ylabel("query latency (ms)")
    b.set_title("One index vs shards on Ray actors")
    b.legend()
    for ax in (a, b):
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
