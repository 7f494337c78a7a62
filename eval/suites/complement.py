"""Complete the look on H&M: for held-out anchor articles, how many of the articles most often
bought with them (``bought_together.csv``) are in the top 10, how often the bought-together
article of another type is picked among articles of its type (fill in the blank), and how often a
bought-together pair outscores a random one (compatibility AUC).

Every co-purchase that involves a held-out anchor (in bought_together, either direction, or in a
same-day basket of the transactions) is removed before anything is learned, so neither the
complementarity table, the co-purchase graph, the pair model nor the popularity baseline has seen
the answers. The candidates are the catalogue's articles with a product type (what
``complete_the_look`` can return); the anchor itself is excluded. Weights of the score are chosen
on validation anchors taken from the training side (with models that have not seen those
either), then frozen for the test anchors.
"""
from __future__ import annotations

import itertools
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from retrieval import (
    Complementarity,
    CoPurchases,
    IngestReport,
    LookWeights,
    PairModel,
    Product,
    assert_disjoint,
    diverse_top,
    in_test,
    read_pairs,
    read_transactions,
    same_day_pairs,
    slot,
)
from retrieval import metrics as M

from ..context import Context
from ..result import SuiteResult
from ..stats import summary as stat

K = 10
PER_CATEGORY = 2
PER_SLOT = 3
FITB_CHOICES = 3                     # wrong answers of the right answer's type
NEIGHBOUR_POOL = 300                 # nearest products offered to CoPurchases.spread
GRID = {"complementarity": (0.0, 0.1, 0.5), "popularity": (0.0, 0.1, 0.3),
        "copurchase": (0.0, 1.0, 2.0, 4.0), "pair": (0.0, 0.05, 0.2)}   # per unit of style weight
PREVIOUS = LookWeights(0.625, 0.3125, 0.0625)      # the default before co-purchases and the pair model
PARTS = ("style", "complementarity", "popularity", "copurchase", "pair")


class Ranker:
    """Scores every candidate for one anchor row, from what the training co-purchases taught."""

    def __init__(self, products: list[Product], fused: np.ndarray, candidates: np.ndarray,
                 train_pairs: list[tuple[str, str]], seed: int):
        ids = [p.id for p in products]
        types = np.array([p.article_type or "" for p in products], dtype=object)
        slots = [slot(p) or "other" for p in products]
        self.products, self.fused, self.types, self.ids = products, fused, types, ids
        self.candidates = candidates
        self.kinds: dict[str, Product] = {}              # one product of each type, for its category
        for c in candidates:
            self.kinds.setdefault(types[c], products[c])
        self.cand_slots = [slots[c] for c in candidates]
        self.comp = Complementarity.learn(train_pairs, {pid: t or None for pid, t in zip(ids, types)})
        self.graph = CoPurchases.from_pairs(train_pairs)
        self.pair_model = PairModel.fit(ids, fused, list(types), train_pairs, seed=seed)
        self.popularity = np.array([self.comp.popularity.get(ids[c], 0.0) for c in candidates])
        self.cand_types = types[candidates]
        self.cand_ids = [ids[c] for c in candidates]
        self.position = {int(c): i for i, c in enumerate(candidates)}
        self.rng = np.random.default_rng(seed)
        self._parts: dict[int, dict[str, np.ndarray]] = {}

    def parts(self, anchor: int) -> dict[str, np.ndarray]:
        """Each term of the score for every candidate (kept: the weight grid reuses them)."""
        if anchor not in self._parts:
            sims = self.fused @ self.fused[anchor]
            sims[anchor] = -np.inf
            near = np.argpartition(-sims, NEIGHBOUR_POOL)[:NEIGHBOUR_POOL]
            near = near[np.argsort(-sims[near])]
            bought = self.graph.spread([self.ids[i] for i in near], sims[near])
            kind = {t: self.comp.category_score(self.products[anchor], rep)
                    for t, rep in self.kinds.items()}
            comp = np.array([kind[t] for t in self.cand_types], np.float32)
            self._parts[anchor] = {
                "style": sims[self.candidates].astype(np.float32),
                "complementarity": comp.astype(np.float32),
                "popularity": self.popularity.astype(np.float32),
                "copurchase": np.array([bought.get(i, 0.0) for i in self.cand_ids], np.float32),
                "pair": self.pair_model.score(self.fused[anchor], self.types[anchor],
                                              self.fused[self.candidates], list(self.cand_types),
                                              self.cand_ids).astype(np.float32)}
        return self._parts[anchor]

    def scores(self, method: str, anchor: int, weights: LookWeights | None = None) -> np.ndarray:
        """Every candidate's score (-inf: not offered); ties are broken at random."""
        parts = self.parts(anchor)
        same = self.cand_types == self.types[anchor]
        if method.startswith("popularity"):
            score = parts["popularity"].astype(float)
        elif method.startswith("nearest neighbour"):
            score = parts["style"].astype(float)
        elif method == "rules only":
            score = parts["complementarity"].astype(float)
        elif method == "pair model only":
            score = parts["pair"].astype(float)
        else:
            score = sum(getattr(weights, p) * parts[p].astype(float) for p in PARTS)
            score[parts["complementarity"] <= 0] = -np.inf      # as complete_the_look: no clash
        if method not in ("popularity", "nearest neighbour"):        # all but the plain baselines
            score[same] = -np.inf
        score = score + 1e-9 * self.rng.random(len(score))
        score[self.candidates == anchor] = -np.inf
        return score

    def top(self, method: str, anchor: int, weights: LookWeights | None = None,
            per_category: int | None = None) -> np.ndarray:
        caps = [(self.cand_types, per_category), (self.cand_slots, PER_SLOT if per_category else None)]
        return self.candidates[diverse_top(self.scores(method, anchor, weights), caps, K)]


def evaluate(ranker: Ranker, anchors: list[int], truth: dict[int, set[int]], method: str,
             weights: LookWeights | None = None,
             per_category: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-anchor relevance of the top ``K`` and the number of relevant candidates."""
    relevance = np.zeros((len(anchors), K))
    n_relevant = np.array([len(truth[a]) for a in anchors], dtype=float)
    for i, a in enumerate(anchors):
        relevance[i] = [r in truth[a] for r in ranker.top(method, a, weights, per_category)]
    return relevance, n_relevant


def questions(ranker: Ranker, anchors: list[int], other: dict[int, set[int]],
              truth: dict[int, set[int]], seed: int) -> list[tuple[int, int, list[int], int]]:
    """(anchor, right answer, wrong answers of its type, random other-type article) for every
    held-out bought-together article of another type; the same for every method."""
    rng = np.random.default_rng(seed)
    by_type: dict[str, list[int]] = defaultdict(list)
    for c in ranker.candidates:
        by_type[ranker.types[c]].append(int(c))
    out = []
    for a in anchors:
        others = ranker.candidates[ranker.cand_types != ranker.types[a]]
        for b in sorted(other[a]):
            pool = [c for c in by_type[ranker.types[b]] if c not in truth[a] and c != a]
            if len(pool) < FITB_CHOICES:
                continue
            wrong = rng.choice(pool, FITB_CHOICES, replace=False).tolist()
            negative = int(rng.choice(others))
            while negative in truth[a]:
                negative = int(rng.choice(others))
            out.append((a, b, wrong, negative))
    return out


def compatibility(ranker: Ranker, qs, method: str,
                  weights: LookWeights | None) -> tuple[np.ndarray, np.ndarray]:
    """Per question: fill-in-the-blank correct (0/1) and the pair AUC term."""
    choices, positive, negative = [], [], []
    for a, right, wrong, neg in qs:
        s = ranker.scores(method, a, weights)
        s = np.where(np.isinf(s), -1e9, s)           # not offered: below everything offered
        choices.append([s[ranker.position[c]] for c in (right, *wrong)])
        positive.append(s[ranker.position[right]])
        negative.append(s[ranker.position[neg]])
    return M.fill_in_the_blank(np.array(choices)), M.pair_auc(np.array(positive), np.array(negative))


def scores(relevance, n_relevant) -> dict[str, np.ndarray]:
    return {"Hit@10": M.hit(relevance, n_relevant, K), "Recall@10": M.recall(relevance, n_relevant, K),
            "NDCG@10": M.ndcg(relevance, n_relevant, K)}


def tuned(ranker: Ranker, anchors, other, per_category) -> tuple[LookWeights, dict]:
    """The grid point with the best validation Recall@10 of other-type articles (style weight
    fixed at 1: only ratios matter), reported normalised to sum 1."""
    grid = {}
    names = list(GRID)
    for values in itertools.product(*GRID.values()):
        w = LookWeights(1.0, *values)
        rel, n = evaluate(ranker, anchors, other, "ours", w, per_category)
        grid[values] = float(np.nanmean(M.recall(rel, n, K)))
    best = max(grid, key=grid.get)
    total = 1.0 + sum(best)
    return (LookWeights(round(1 / total, 4), *(round(v / total, 4) for v in best)),
            {",".join(f"{n}={v:g}" for n, v in zip(names, key)): round(r, 4)
             for key, r in sorted(grid.items(), key=lambda kv: -kv[1])[:10]})


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
    valid_rows = sorted(row[a] for a in valid if other[row[a]])

    # weights are chosen on validation anchors, with models that have not seen those either
    tune = Ranker(products, fused, candidates,
                  [(a, b) for a, b in train if a not in valid and b not in valid], ctx.seed)
    variants = {"ours: style, category, popularity, co-purchases, pair model": None,
                "ours, at most 2 per type and 3 per slot": PER_CATEGORY}
    chosen, grids = {}, {}
    for name, cap in variants.items():
        chosen[name], grids[name] = tuned(tune, valid_rows, other, cap)
    del tune

    ranker = Ranker(products, fused, candidates, train, ctx.seed)
    methods = {"popularity": (None, None), "nearest neighbour": (None, None),
               "popularity, other types": (None, None), "nearest neighbour, other types": (None, None),
               "rules only": (None, None), "before: style, category, popularity": (PREVIOUS, PER_CATEGORY),
               "pair model only": (None, None),
               **{n: (chosen[n], variants[n]) for n in variants}}
    qs = questions(ranker, test_rows, other, truth, ctx.seed)
    results = {}
    for name, (weights, cap) in methods.items():
        rel, n = evaluate(ranker, test_rows, truth, name, weights, cap)
        results[name] = scores(rel, n)
        rel, n = evaluate(ranker, test_rows, other, name, weights, cap)
        results[name]["Recall@10, other types"] = M.recall(rel, n, K)
        results[name]["NDCG@10, other types"] = M.ndcg(rel, n, K)
        results[name]["FITB"], results[name]["AUC"] = compatibility(ranker, qs, name, weights)
    summary = {m: {k: stat(v) for k, v in r.items()} for m, r in results.items()}
    columns = ["Hit@10", "Recall@10", "NDCG@10", "Recall@10, other types", "NDCG@10, other types",
               "FITB", "AUC"]
    rows = [[m] + [f"{s[c]['mean']:.4f} ± {s[c]['ci95']:.4f}" for c in columns]
            for m, s in summary.items()]
    best = "ours: style, category, popularity, co-purchases, pair model"
    key = "Recall@10, other types"
    ratios = {base: (round(summary[best][key]["mean"] / summary[base][key]["mean"], 2)
                     if summary[base][key]["mean"] > 0 else None)
              for base in ("popularity", "nearest neighbour", "popularity, other types",
                           "nearest neighbour, other types")}
    paired = {base: stat(results[best][key] - results[base][key])
              for base in ("popularity, other types", "nearest neighbour, other types", "rules only")}
    _plot(ctx.out / "complement.png", summary)
    learned = sum(ranker.comp.knows(types[a]) for a in test_rows)
    return SuiteResult(
        name="complement",
        config={"catalog": str(hm.catalog_path), "items": len(products),
                "candidates": int(len(candidates)), "test anchors": len(test_rows),
                "validation anchors": len(valid_rows), "training co-purchases": len(train),
                "fill-in-the-blank questions": len(qs), "k": K,
                "weights (style, complementarity, popularity, copurchase, pair)":
                    {n: [getattr(w, p) for p in PARTS] for n, w in chosen.items()},
                "validation other-type Recall@10, best grid points": grids,
                "pair model training loss by epoch": [round(v, 2) for v in ranker.pair_model.losses],
                "input issues": len(report.issues)},
        columns=["method", *columns],
        rows=rows,
        metrics={"methods": summary, f"{key}: {best} / baseline": ratios,
                 f"paired {key} difference ({best} - baseline)": paired},
        notes=[f"{len(test_rows)} held-out anchors ({learned} with a learned category row, the rest "
               f"use the outfit rules); relevant = their bought-together articles among "
               f"{len(candidates)} typed candidates; 'other types' keeps the bought-together "
               f"articles of another product type (the complete-the-look case). Baselines marked "
               f"'other types' leave the anchor's own type out of their ranking, as complete the "
               f"look does.",
               f"FITB: the held-out bought-together article of another type against "
               f"{FITB_CHOICES} random articles of its type ({len(qs)} questions; chance "
               f"{1 / (FITB_CHOICES + 1):.2f}). AUC: that article against a random article of "
               f"another type than the anchor, one negative per positive.",
               f"{key}, ours / baseline: " + ", ".join(f"{b} {r:g}x" if r else f"{b} (finds none)"
                                                    for b, r in ratios.items()),
               f"Paired {key}, ours minus baseline: " + ", ".join(
                   f"{b} {v['mean']:+.4f} ± {v['ci95']:.4f}" for b, v in paired.items()),
               "Weights (style, complementarity, popularity, co-purchases, pair) chosen on "
               "validation anchors: " + "; ".join(
                   f"{n}: " + ", ".join(f"{getattr(w, p):g}" for p in PARTS)
                   for n, w in chosen.items())],
        plots=["complement.png"],
    )


def _plot(path, summary: dict) -> None:
    names = list(summary)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, metric in zip(axes, ("Recall@10, other types", "FITB")):
        ax.barh(names, [summary[m][metric]["mean"] for m in names],
                xerr=[summary[m][metric]["ci95"] for m in names], color="tab:blue")
        ax.set_xlabel(metric + " (95% CI)")
    axes[0].invert_yaxis()
    axes[0].set_title("bought-together articles of another type, top 10")
    axes[1].set_title(f"fill in the blank (1 of {FITB_CHOICES + 1})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
