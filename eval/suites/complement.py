"""Complete the look on H&M: for held-out anchor articles, how many of the articles most often
bought with them (``bought_together.csv``) are in the top 10?

Every co-purchase that involves a held-out anchor (in bought_together, either direction, or in a
same-day basket of the transactions) is removed before anything is learned, so neither the
complementarity table nor the popularity baseline has seen the answers. The candidates are the
catalogue's articles with a product type (what ``complete_the_look`` can return); the anchor itself
is excluded. Weights of ``a * style + b * complementarity + c * popularity`` are chosen on
validation anchors taken from the training side, then frozen for the test anchors.
"""
from __future__ import annotations

from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from retrieval import metrics as M
from retrieval.complement import Complementarity, LookWeights, diverse_top, slot
from retrieval.ingest import IngestReport
from retrieval.interactions import read_pairs, read_transactions, same_day_pairs
from retrieval.splits import assert_disjoint, in_test

from ..context import Context
from ..stats import summary as stat
from . import SuiteResult

K = 10
PER_CATEGORY = 2
PER_SLOT = 3
COMP_GRID = (0.0, 0.05, 0.1, 0.25, 0.5)        # per unit of style weight
POP_GRID = (0.0, 0.05, 0.1, 0.2, 0.4)


class Ranker:
    """Scores every candidate for one anchor row, from what the training co-purchases taught."""

    def __init__(self, fused: np.ndarray, types: np.ndarray, candidates: np.ndarray,
                 train_pairs: list[tuple[str, str]], ids: list[str], slots: list[str]):
        self.fused, self.types, self.candidates = fused, types, candidates
        self.cand_slots = [slots[c] for c in candidates]
        self.comp = Complementarity.learn(train_pairs, {pid: t or None for pid, t in zip(ids, types)})
        self.popularity = np.array([self.comp.popularity.get(ids[c], 0.0) for c in candidates])
        self.cand_types = types[candidates]
        self._parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def parts(self, anchor: int) -> tuple[np.ndarray, np.ndarray]:
        """(style, complementarity) of every candidate (kept: the weight grid reuses them)."""
        if anchor not in self._parts:
            row = self.comp.table.get(self.types[anchor], {})
            self._parts[anchor] = (self.fused[self.candidates] @ self.fused[anchor],
                                   np.array([row.get(t, 0.0) for t in self.cand_types], np.float32))
        return self._parts[anchor]

    def top(self, method: str, anchor: int, weights: LookWeights | None = None,
            per_category: int | None = None) -> np.ndarray:
        style, comp = self.parts(anchor)
        if method == "popularity":
            score = self.popularity.copy()
        elif method == "nearest neighbour":
            score = style.copy()
        else:
            score = (weights.style * style + weights.complementarity * comp
                     + weights.popularity * self.popularity)
        score[self.candidates == anchor] = -np.inf
        caps = [(self.cand_types, per_category), (self.cand_slots, PER_SLOT if per_category else None)]
        return self.candidates[diverse_top(score, caps, K)]


def evaluate(ranker: Ranker, anchors: list[int], truth: dict[int, set[int]], method: str,
             weights: LookWeights | None = None,
             per_category: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-anchor relevance of the top ``K`` and the number of relevant candidates."""
    relevance = np.zeros((len(anchors), K))
    n_relevant = np.array([len(truth[a]) for a in anchors], dtype=float)
    for i, a in enumerate(anchors):
        relevance[i] = [r in truth[a] for r in ranker.top(method, a, weights, per_category)]
    return relevance, n_relevant


def scores(relevance, n_relevant) -> dict[str, np.ndarray]:
    return {"Hit@10": M.hit(relevance, n_relevant, K), "Recall@10": M.recall(relevance, n_relevant, K),
            "NDCG@10": M.ndcg(relevance, n_relevant, K)}


def tuned(ranker: Ranker, anchors, truth, per_category, popularity: bool) -> tuple[LookWeights, dict]:
    """The grid point with the best validation Recall@10 (style weight fixed at 1: only ratios
    matter), reported normalised to sum 1."""
    grid = {}
    for b in COMP_GRID:
        for c in (POP_GRID if popularity else (0.0,)):
            rel, n = evaluate(ranker, anchors, truth, "ours", LookWeights(1.0, b, c), per_category)
            grid[(b, c)] = float(np.nanmean(M.recall(rel, n, K)))
    b, c = max(grid, key=grid.get)
    total = 1.0 + b + c
    return (LookWeights(round(1 / total, 4), round(b / total, 4), round(c / total, 4)),
            {f"b={k[0]:g},c={k[1]:g}": round(v, 4) for k, v in grid.items()})


def run(ctx: Context) -> SuiteResult:
    hm = ctx.hm
    products = hm.catalog.products
    ids = [p.id for p in products]
    row = {pid: i for i, pid in enumerate(ids)}
    types = np.array([p.article_type or "" for p in products], dtype=object)
    report = IngestReport()
    pairs = [(a, b) for a, b, _ in read_pairs(hm.catalog_path / "bought_together.csv", report,
                                               set(ids))]
    purchases = hm.catalog_path / "transactions.csv"
    baskets = same_day_pairs(read_transactions(purchases, report, set(ids))) if purchases.is_file() else []
    anchors = sorted({a for a, _ in pairs})
    test = {a for a in anchors if in_test(a, 0.2, ctx.seed)}
    valid = {a for a in anchors if a not in test and in_test(a, 0.125, ctx.seed + 1)}
    candidates = np.flatnonzero(types != "")
    pool = set(candidates.tolist())
    truth: dict[int, set[int]] = defaultdict(set)
    for a, b in pairs:
        if row[b] in pool:
            truth[row[a]].add(row[b])
    other = {a: {b for b in bs if types[b] != types[a]} for a, bs in truth.items()}
    train = [(a, b) for a, b in pairs + baskets if a not in test and b not in test]
    assert_disjoint([x for ab in train for x in ab], sorted(test))
    fused = hm.fused
    test_rows = sorted(row[a] for a in test if truth[row[a]])
    valid_rows = sorted(row[a] for a in valid if truth[row[a]])

    # weights are chosen on validation anchors, with a ranker that has not seen those either
    slots = [slot(p) or "other" for p in products]
    tune = Ranker(fused, types, candidates,
                  [(a, b) for a, b in train if a not in valid and b not in valid], ids, slots)
    variants = {"ours, at most 2 per type and 3 per slot": (PER_CATEGORY, True),
                "ours, no per-type cap": (None, True),
                "ours without popularity, no cap": (None, False)}
    chosen, grids = {}, {}
    for name, (cap, pop) in variants.items():
        chosen[name], grids[name] = tuned(tune, valid_rows, truth, cap, pop)

    ranker = Ranker(fused, types, candidates, train, ids, slots)
    methods = {"popularity": (None, None), "nearest neighbour": (None, None),
               **{n: (chosen[n], variants[n][0]) for n in variants}}
    results, cross = {}, {}
    for name, (weights, cap) in methods.items():
        rel, n = evaluate(ranker, test_rows, truth, name, weights, cap)
        results[name] = scores(rel, n)
        rel, n = evaluate(ranker, test_rows, other, name, weights, cap)
        cross[name] = M.recall(rel, n, K)
    summary = {m: {k: stat(v) for k, v in r.items()} for m, r in results.items()}
    for m in summary:
        summary[m]["Recall@10, other types only"] = stat(cross[m])
    columns = ["Hit@10", "Recall@10", "NDCG@10", "Recall@10, other types only"]
    rows = [[m] + [f"{s[c]['mean']:.4f} ± {s[c]['ci95']:.4f}" for c in columns]
            for m, s in summary.items()]
    best = max(variants, key=lambda n: summary[n]["Recall@10"]["mean"])
    paired = {base: stat(results[best]["Recall@10"] - results[base]["Recall@10"])
              for base in ("popularity", "nearest neighbour")}
    _plot(ctx.out / "complement.png", summary)
    learned = sum(ranker.comp.knows(types[a]) for a in test_rows)
    return SuiteResult(
        name="complement",
        config={"catalog": str(hm.catalog_path), "items": len(products),
                "candidates": int(len(candidates)), "test anchors": len(test_rows),
                "validation anchors": len(valid_rows), "training co-purchases": len(train),
                "k": K, "weights (style, complementarity, popularity)":
                    {n: [w.style, w.complementarity, w.popularity] for n, w in chosen.items()},
                "validation Recall@10 grid": grids, "input issues": len(report.issues)},
        columns=["method", *columns],
        rows=rows,
        metrics={"methods": summary, f"paired Recall@10 difference ({best} - baseline)": paired},
        notes=[f"{len(test_rows)} held-out anchors ({learned} with a learned category row, the rest "
               f"use the outfit rules); relevant = their bought-together articles among "
               f"{len(candidates)} typed candidates; 'other types only' keeps the bought-together "
               f"articles of another product type (the complete-the-look case).",
               f"Paired Recall@10, {best} minus baseline: " + ", ".join(
                   f"{b} {v['mean']:+.4f} ± {v['ci95']:.4f}" for b, v in paired.items()),
               "Weights (style, complementarity, popularity) chosen on validation anchors: " +
               "; ".join(f"{n}: {w.style:g}, {w.complementarity:g}, {w.popularity:g}"
                         for n, w in chosen.items())],
        plots=["complement.png"],
    )


def _plot(path, summary: dict) -> None:
    names = list(summary)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, metric in zip(axes, ("Recall@10", "Recall@10, other types only")):
        ax.barh(names, [summary[m][metric]["mean"] for m in names],
                xerr=[summary[m][metric]["ci95"] for m in names], color="tab:blue")
        ax.set_xlabel(metric + " (95% CI)")
    axes[0].invert_yaxis()
    axes[0].set_title("all bought-together articles")
    axes[1].set_title("bought-together articles of another type")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
