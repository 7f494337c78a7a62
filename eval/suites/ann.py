"""USearch tuned against FAISS HNSW at equal recall@10, on the catalogue's fused vectors and on
synthetic ones like them (1M on the full run), plain and filtered.

- Settings: USearch at connectivity 8/16/32 and f32/f16/i8 vectors (the catalogue; 16 at f32
  and i8 on the synthetic set), FAISS HNSW (flat f32 vectors) at M 8/16/32 (16 on the synthetic
  set); both built with expansion 128 on every core. Each index is searched one query at a time
  (a shopper's query) on one thread, with the search expansion swept: recall@10 against exact
  search, queries/s.
- Equal recall: per recall level, each library's best queries/s among its settings and
  expansions that reach it.
- Filtered: random filters keeping 1% and 10% of the rows. The index's own rule
  (``retrieval.store.index``: exact search over the kept rows when they are few, else HNSW asked for
  enough hits that k pass) against FAISS HNSW searching with an ID selector.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import faiss
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from usearch.index import Index, MetricKind
from usearch.index import search as exact_search

from retrieval import exact_for, overfetched

from ..context import Context
from ..result import SuiteResult
from .latency import EF_ADD, K, recall_at_k, synthetic, truth_of

EXPANSIONS = (10, 16, 24, 32, 48, 64, 96, 128, 192)
LEVELS = (0.9, 0.95, 0.99)
SELECTIVITY = (0.01, 0.10)
QUERIES = 300
PASSES = 3
FILTERED_EXPANSION = 128          # what the product index searches with


@dataclass
class Built:
    """One index built over the vectors, and how to search it at an expansion."""
    library: str
    index: object
    build_s: float
    memory_mb: float

    def searcher(self, expansion: int) -> Callable[[np.ndarray], np.ndarray]:
        if self.library == "USearch":
            self.index.expansion_search = expansion
            return lambda q: self.index.search(q, K, threads=1).keys
        self.index.hnsw.efSearch = expansion
        return lambda q: self.index.search(q[None], K)[1][0]


def build_usearch(vectors, connectivity: int, dtype: str) -> Built:
    index = Index(ndim=vectors.shape[1], metric=MetricKind.IP, dtype=dtype, connectivity=connectivity,
                  expansion_add=EF_ADD)
    start = time.perf_counter()
    index.add(np.arange(len(vectors)), vectors,
              log=len(vectors) >= 100_000 and f"USearch M{connectivity} {dtype}")
    return Built("USearch", index, time.perf_counter() - start, index.memory_usage / 2**20)


def build_faiss(vectors, m: int) -> Built:
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_ADD
    start = time.perf_counter()
    index.add(vectors)                  # on every core, as USearch's add
    return Built("FAISS", index, time.perf_counter() - start, faiss.serialize_index(index).nbytes / 2**20)


def curves(built: dict[str, Built], queries: np.ndarray, truth: list[set]) -> dict:
    """Recall@10 and queries/s of every index at every expansion, one query at a time on one
    thread. Per expansion the indexes take turns, ``PASSES`` passes over the queries each, and
    each keeps its fastest pass: the machine's other work only ever slows a pass, and it cannot
    favour whichever library happened to run while the machine was quiet."""
    cores = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    out = {name: {"library": b.library, "build_s": b.build_s, "memory_mb": b.memory_mb, "points": []}
           for name, b in built.items()}
    for ef in EXPANSIONS:
        search = {name: b.searcher(ef) for name, b in built.items()}
        seconds = dict.fromkeys(built, math.inf)
        for _ in range(PASSES):
            for name, fn in search.items():
                start = time.perf_counter()
                for q in queries:
                    fn(q)
                seconds[name] = min(seconds[name], time.perf_counter() - start)
        for name, fn in search.items():
            recall = recall_at_k([fn(q) for q in queries], truth)
            out[name]["points"].append({"expansion": ef, "recall@10": recall,
                                        "qps": len(queries) / seconds[name],
                                        "ms": 1000 * seconds[name] / len(queries)})
    faiss.omp_set_num_threads(cores)
    return out


def timed(search, queries: np.ndarray, truth: list[set]) -> dict:
    """Recall@10 and queries/s of ``search(query) -> keys`` (fastest of ``PASSES`` passes)."""
    found = [search(q) for q in queries]
    seconds = math.inf
    for _ in range(PASSES):
        start = time.perf_counter()
        for q in queries:
            search(q)
        seconds = min(seconds, time.perf_counter() - start)
    recall = recall_at_k(found, truth)
    return {"recall@10": recall, "qps": len(queries) / seconds, "ms": 1000 * seconds / len(queries)}


def best_at(measured: dict, library: str, level: float) -> dict | None:
    """The fastest setting and expansion of ``library`` reaching recall@10 ``level``."""
    found = [{"setting": name, **p} for name, c in measured.items() if c["library"] == library
             for p in c["points"] if p["recall@10"] >= level]
    return max(found, key=lambda p: p["qps"]) if found else None


def filtered(vectors, queries, usearch_index: Index, faiss_index, share: float, seed: int) -> dict:
    """The index's rule against FAISS HNSW with an ID selector, filters keeping ``share``."""
    n = len(vectors)
    rng = np.random.default_rng(seed)
    allowed = np.sort(rng.choice(n, max(K, round(share * n)), replace=False))
    truth = truth_of(vectors, queries, allowed)
    kept = set(allowed.tolist())
    if exact_for(len(allowed), n):
        subset = vectors[allowed]

        def ours(q):
            return allowed[exact_search(subset, q, K, MetricKind.IP, exact=True).keys]
        rule = "exact over the kept rows"
    else:
        usearch_index.expansion_search = FILTERED_EXPANSION

        def ours(q):
            return [key for key, _ in overfetched(
                lambda v, fetch: usearch_index.search(v, fetch, threads=1), n, q, K, kept)[:K]]
        rule = "HNSW, fetch grown until k pass"
    cores = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    params = faiss.SearchParametersHNSW(sel=faiss.IDSelectorBatch(allowed), efSearch=FILTERED_EXPANSION)
    theirs = timed(lambda q: faiss_index.search(q[None], K, params=params)[1][0], queries, truth)
    faiss.omp_set_num_threads(cores)
    return {"kept": len(allowed), "rule": rule, "ours": timed(ours, queries, truth), "faiss": theirs}


def run(ctx: Context) -> SuiteResult:
    base = ctx.index.matrix()                  # the catalogue's fused vectors
    n_synth = 1_000_000 if ctx.limit is None else 50_000
    queries = synthetic(base, QUERIES, ctx.seed + 1)   # near catalogue vectors, none of them
    sets = {"catalogue": (base, (8, 16, 32), ("f32", "f16", "i8")),
            f"synthetic {n_synth:,}": (synthetic(base, n_synth, ctx.seed), (16,), ("f32", "i8"))}
    metrics, rows = {}, []
    for label, (vectors, connectivities, dtypes) in sets.items():
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        truth = truth_of(vectors, queries)
        built = {f"USearch M{m} {dtype}": build_usearch(vectors, m, dtype)
                 for m in connectivities for dtype in dtypes}
        built.update({f"FAISS HNSW M{m} f32": build_faiss(vectors, m) for m in connectivities})
        measured = curves(built, queries, truth)
        equal = {str(level): {lib: best_at(measured, lib, level) for lib in ("USearch", "FAISS")}
                 for level in LEVELS}
        filters = {str(share): filtered(vectors, queries, built["USearch M16 f32"].index,
                                        built["FAISS HNSW M16 f32"].index, share, ctx.seed)
                   for share in SELECTIVITY}
        metrics[label] = {"items": len(vectors), "curves": measured, "equal_recall": equal,
                          "filtered": filters}
        for level, best in equal.items():
            u, f = best["USearch"], best["FAISS"]
            rows.append([label, f"recall@10 >= {level}", _point(u), _point(f),
                         f"{u['qps'] / f['qps']:.2f}" if u and f else "-"])
        for share, r in filters.items():
            rows.append([label, f"filter keeps {float(share):.0%} ({r['kept']:,} rows)",
                         f"{r['rule']}: {r['ours']['qps']:,.0f} q/s, R@10 {r['ours']['recall@10']:.3f}",
                         f"ID selector: {r['faiss']['qps']:,.0f} q/s, R@10 {r['faiss']['recall@10']:.3f}",
                         f"{r['ours']['qps'] / r['faiss']['qps']:.2f}"])
        del built
    _plot(ctx.out / "ann.png", metrics)
    return SuiteResult(
        name="ann",
        config={"k": K, "queries": QUERIES, "expansion_add": EF_ADD, "expansions": list(EXPANSIONS),
                "synthetic": n_synth, "filtered_expansion": FILTERED_EXPANSION},
        columns=["vectors", "at", "USearch (best setting)", "FAISS HNSW (best setting)", "USearch / FAISS q/s"],
        rows=rows, metrics=metrics,
        notes=["One query at a time on one thread (a shopper's query; both libraries' own batch "
               "paths are left out). Best setting: the highest queries/s among the settings and "
               "search expansions whose recall@10 against exact search reaches the level.",
               "Filters: random row sets; the index's rule is retrieval.store.index's (exact_for, "
               f"overfetched) at search expansion {FILTERED_EXPANSION}, FAISS HNSW M16 searches with "
               f"an IDSelectorBatch at efSearch {FILTERED_EXPANSION}."],
        plots=["ann.png"])


def _point(p: dict | None) -> str:
    if p is None:
        return "not reached"
    return f"{p['setting']} ef {p['expansion']}: {p['qps']:,.0f} q/s (R@10 {p['recall@10']:.3f})"


def _plot(path, metrics: dict) -> None:
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    for ax, (label, m) in zip(axes[0], metrics.items()):
        for name, c in m["curves"].items():
            ax.plot([p["recall@10"] for p in c["points"]], [p["qps"] for p in c["points"]],
                    "o-" if c["library"] == "USearch" else "s--", label=name, markersize=3)
        ax.set_yscale("log")
        ax.set_xlabel("recall@10 vs exact")
        ax.set_ylabel("queries/s, one thread")
        ax.set_title(f"{label}: {m['items']:,} vectors")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
