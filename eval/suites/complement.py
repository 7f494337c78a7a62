"""Complete the look on H&M: for held-out anchor articles, how many of the articles most often
bought with them (``bought_together.csv``) are in the top 10?

Every co-purchase that involves a held-out anchor (in bought_together, either direction, or in a
same-day basket of the transactions) is removed before anything is learned, so neither the
complementarity table nor the popularity baseline has seen the answers. The candidates are the
catalogue's articles with a product type (what ``complete_the_look`` can return); the anchor itself
is excluded. Weights of ``a * style + b * complementarity`` are chosen on validation anchors
taken from the training side, then frozen for the test anchors.
"""
from __future__ import annotations

from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from retrieval import metrics as M
from retrieval.complement import Complementarity, LookWeights, diverse_top
from retrieval.ingest import IngestReport
from retrieval.interactions import read_pairs, read_transactions, same_day_pairs
from retrieval.splits import assert_disjoint, in_test

from ..stats import summary as stat
from . import SuiteResult

K = 10
PER_CATEGORY = 2
STYLE_GRID = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


class Ranker:
    """Scores every candidate for one anchor row, given the training co-purchases."""

    def __init__(self, fused: np.ndarray, types: np.ndarray, candidates: np.ndarray,
                 train_pairs: list[tuple[str, str]], ids: list[str]):
        self.fused, self.types, self.candidates = fused, types, candidates
        row = {pid: i for i, pid in enumerate(ids)}
        pop = np.zeros(len(ids))
        for a, b in train_pairs:
            pop[row[a]] += 1
            pop[row[b]] += 1
        self.popularity = pop[candidates]
        category_of = {pid: (t or None) for pid, t in zip(ids, types)}
        self.comp = Complementarity.learn(train_pairs, category_of)
        self.cand_types = types[candidates]

    def style(self, anchor: int) -> np.ndarray:
        return self.fused[self.candidates] @ self.fused[anchor]

    def complementarity(self, anchor: int) -> np.ndarray:
        row = self.comp.table.get(self.types[anchor], {})
        return np.array([row.get(t, 0.0) for t in self.cand_types])

    def top(self, method: str, anchor: int, weights: LookWeights | None = None) -> np.ndarray:
        if method == "popularity":
            score = self.popularity.copy()
        elif method == "nearest neighbour":
            score = self.style(anchor)
        else:
            score = (weights.style * self.style(anchor)
                     + weights.complementarity * self.complementarity(anchor))
        score[self.candidates == anchor] = -np.inf
        per_category = PER_CATEGORY if method.startswith("ours") else None
        return self.candidates[diverse_top(score, self.cand_types, K, per_category)]


def evaluate(ranker: Ranker, method: str, anchors: list[int], partners: dict[int, set[int]],
             weights: LookWeights | None = None) -> dict[str, np.ndarray]:
    candidate_set = set(ranker.candidates.tolist())
    relevance = np.zeros((len(anchors), K))
    n_relevant = np.zeros(len(anchors))
    for i, a in enumerate(anchors):
        truth = partners[a] & candidate_set
        relevance[i] = [r in truth for r in ranker.top(method, a, weights)]
        n_relevant[i] = len(truth)
    return {"Hit@10": M.hit(relevance, n_relevant, K), "Recall@10": M.recall(relevance, n_relevant, K),
            "NDCG@10": M.ndcg(relevance, n_relevant, K)}


def run(ctx) -> SuiteResult:
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
    partners: dict[int, set[int]] = defaultdict(set)
    for a, b in pairs:
        partners[row[a]].add(row[b])
    train = [(a, b) for a, b in pairs + baskets if a not in test and b not in test]
    assert_disjoint([x for ab in train for x in ab], sorted(test))
    candidates = np.flatnonzero(types != "")
    test_rows = sorted(row[a] for a in test)
    fused = hm.fused

    # weights: chosen on validation anchors with a ranker that has not seen them either
    tune = Ranker(fused, types, candidates, [(a, b) for a, b in train
                                             if a not in valid and b not in valid], ids)
    valid_rows = sorted(row[a] for a in valid)
    grid = {s: np.nanmean(evaluate(tune, "ours", valid_rows, partners,
                                   LookWeights(s, 1 - s))["Recall@10"]) for s in STYLE_GRID}
    best = max(grid, key=grid.get)
    weights = LookWeights(best, round(1 - best, 4))

    ranker = Ranker(fused, types, candidates, train, ids)
    methods = {"popularity": None, "nearest neighbour": None,
               "ours (a=b=0.5)": LookWeights(0.5, 0.5), f"ours (tuned a={weights.style:g})": weights}
    results = {m: evaluate(ranker, m, test_rows, partners, w) for m, w in methods.items()}
    summary = {m: {k: stat(v) for k, v in r.items()} for m, r in results.items()}
    rows = [[m] + [f"{s[k]['mean']:.4f} ± {s[k]['ci95']:.4f}" for k in ("Hit@10", "Recall@10", "NDCG@10")]
            for m, s in summary.items()]
    best_name = f"ours (tuned a={weights.style:g})"
    paired = {base: stat(results[best_name]["Recall@10"] - results[base]["Recall@10"])
              for base in ("popularity", "nearest neighbour")}
    _plot(ctx.out / "complement.png", summary, grid)
    learned = sum(ranker.comp.knows(types[a]) for a in test_rows)
    return SuiteResult(
        name="complement",
        config={"catalog": str(hm.catalog_path), "items": len(products),
                "candidates": int(len(candidates)), "test anchors": len(test_rows),
                "validation anchors": len(valid_rows), "training co-purchases": len(train),
                "of which same-day baskets": sum(1 for a, b in baskets if a not in test and b not in test),
                "per category": PER_CATEGORY, "k": K, "weights": vars(weights),
                "validation Recall@10 by style weight": {str(k): round(float(v), 4) for k, v in grid.items()},
                "input issues": len(report.issues)},
        columns=["method", "Hit@10", "Recall@10", "NDCG@10"],
        rows=rows,
        metrics={"methods": summary, "paired Recall@10 difference (tuned ours - baseline)": paired},
        notes=[f"{len(test_rows)} held-out anchors ({learned} with a learned category row, the rest "
               f"use the outfit rules); relevant = its bought-together articles among "
               f"{len(candidates)} typed candidates.",
               "Paired Recall@10, tuned ours minus baseline: " + ", ".join(
                   f"{b} {v['mean']:+.4f} ± {v['ci95']:.4f}" for b, v in paired.items()),
               f"Style weight a chosen on {len(valid_rows)} validation anchors: a={weights.style:g}, "
               f"b={weights.complementarity:g}."],
        plots=["complement.png"],
    )


def _plot(path, summary: dict, grid: dict) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(summary)
    means = [summary[m]["Recall@10"]["mean"] for m in names]
    errs = [summary[m]["Recall@10"]["ci95"] for m in names]
    left.barh(names, means, xerr=errs, color="tab:blue")
    left.set_xlabel("Recall@10 of bought-together articles (95% CI)")
    left.invert_yaxis()
    right.plot(list(grid), list(grid.values()), marker="o")
    right.set_xlabel("style weight a (b = 1 - a)")
    right.set_ylabel("validation Recall@10")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
