"""Retrieval quality with relevance from catalogue metadata, every configuration side by side.

Tasks (queries are held-out items; the alignment and the fusions never trained on them):
- ``item: same type``: item-to-item, relevant = same article type (the query item excluded);
- ``item: type+colour``: item-to-item, relevant = same article type and base colour;
- ``title -> item``: the product's title as a text query, relevant = that exact product, among
  the held-out items (for ``image only`` this is text-to-image retrieval).
Configurations: TF-IDF over the canonical text, image only, text only, and the three fusions,
each with the untrained and the trained alignment.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from usearch.index import MetricKind
from usearch.index import search as exact_search

from retrieval import FUSIONS, fit_fusion, item_labels, project
from retrieval import metrics as M

from ..context import Context
from ..result import SuiteResult
from ..stats import mean_ci

K = 10
N_QUERIES = 500
TASKS = ("item: same type", "item: type+colour", "title -> item")


def ranked(items: np.ndarray, queries: np.ndarray, exclude: np.ndarray | None, k: int) -> np.ndarray:
    """Top ``k`` item rows per query by cosine (exact), dropping ``exclude[i]`` from row i."""
    items = np.ascontiguousarray(items, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    matches = exact_search(items, queries, k + 1, MetricKind.Cos, exact=True)
    out = np.empty((len(queries), k), dtype=np.int64)
    for i in range(len(queries)):
        keys = [int(x) for x in matches.keys[i] if exclude is None or int(x) != exclude[i]]
        out[i] = keys[:k]
    return out


def ranked_sparse(items, queries, exclude, k: int) -> np.ndarray:
    scores = (queries @ items.T).toarray()
    if exclude is not None:
        scores[np.arange(queries.shape[0]), exclude] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, 1).argsort(1)[:, ::-1]
    return np.take_along_axis(top, order, 1)


def scores_of(relevance: np.ndarray, n_relevant: np.ndarray) -> dict[str, np.ndarray]:
    return {"P@5": M.precision(relevance, 5), "P@10": M.precision(relevance, 10),
            "R@10": M.recall(relevance, n_relevant, 10), "NDCG@10": M.ndcg(relevance, n_relevant, 10),
            "MRR@10": M.mrr(relevance, n_relevant, 10)}


def run(ctx: Context) -> SuiteResult:
    products = ctx.catalog.products
    rows = ctx.query_rows(N_QUERIES)
    test = ctx.split.test
    train = ctx.split.train
    article, colour = ctx.labels("article_type"), ctx.labels("colour")
    both = np.char.add(np.char.add(article.astype(str), "|"), colour.astype(str))
    titles = [products[r].title or products[r].text for r in rows]
    test_pos = {int(r): i for i, r in enumerate(test)}
    title_target = np.array([test_pos[int(r)] for r in rows])

    def judge(task, top):
        if task == "title -> item":
            rel = top == title_target[:, None]
            return scores_of(rel, np.ones(len(rows)))
        labels = article if task == "item: same type" else both
        rel = labels[top] == labels[rows][:, None]
        counts = {v: c for v, c in zip(*np.unique(labels, return_counts=True))}
        return scores_of(rel, np.array([counts[labels[r]] - 1 for r in rows]))

    results: dict[tuple[str, str], dict] = {}
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2))
    docs = tfidf.fit_transform([p.text for p in products])
    item_top = ranked_sparse(docs, docs[rows], rows, K)
    title_top = ranked_sparse(docs[test], tfidf.transform(titles), None, K)
    for task, top in ((TASKS[0], item_top), (TASKS[1], item_top), (TASKS[2], title_top)):
        results[(task, "TF-IDF text")] = judge(task, top)

    encoders = {"untrained": ctx.base_encoder, "trained": ctx.encoder}
    labels_train = item_labels([products[i] for i in train])
    for state, encoder in encoders.items():
        emb = project(ctx.features, encoder)
        title_vecs = encoder.encode_texts(titles)
        reps = {"image only": (emb.image, lambda q: q), "text only": (emb.text, lambda q: q)}
        for name in sorted(FUSIONS):
            fusion = fit_fusion(name, emb.subset(train), labels_train)
            reps[name] = (fusion.items(emb), fusion.query)
        for name, (items, to_query) in reps.items():
            config = f"{name} ({state})"
            item_top = ranked(items, items[rows], rows, K)
            title_top = ranked(items[test], to_query(title_vecs), None, K)
            for task, top in ((TASKS[0], item_top), (TASKS[1], item_top), (TASKS[2], title_top)):
                results[(task, config)] = judge(task, top)

    table, metrics = [], {}
    for (task, config), per_query in results.items():
        summary = {m: mean_ci(v[~np.isnan(v)]) for m, v in per_query.items()}
        metrics.setdefault(task, {})[config] = {
            m: {"mean": s[0], "ci95": s[1]} for m, s in summary.items()}
        table.append([task, config] + [f"{summary[m][0]:.3f}±{summary[m][1]:.3f}"
                                       for m in per_query])
    plot = "retrieval.png"
    configs = list(metrics[TASKS[0]])
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.28 * len(configs) + 1.2), sharey=True)
    for ax, task, metric in zip(axes, TASKS, ("P@5", "P@10", "MRR@10")):
        vals = [metrics[task][c][metric]["mean"] for c in configs]
        errs = [metrics[task][c][metric]["ci95"] for c in configs]
        ax.barh(configs, vals, xerr=errs, color="#4c72b0")
        ax.set_title(f"{task}: {metric}", fontsize=9)
        ax.set_xlim(0, 1)
    axes[0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(ctx.out / plot, dpi=110)
    plt.close(fig)
    same5 = {c: metrics[TASKS[0]][c]["P@5"]["mean"] for c in configs if "(trained)" in c}
    best = max((c for c in same5 if c.split(" (")[0] in FUSIONS), key=same5.get)
    paired = {}
    for other in ("text only (trained)", "image only (trained)"):
        diff = results[(TASKS[0], best)]["P@5"] - results[(TASKS[0], other)]["P@5"]
        paired[other] = dict(zip(("mean", "ci95"), mean_ci(diff)))
    return SuiteResult(
        "retrieval",
        {"items": len(products), "held_out": len(test), "queries": len(rows), "k": K,
         "encoder": ctx.encoder_spec, "seed": ctx.seed},
        ["task", "configuration", "P@5", "P@10", "R@10", "NDCG@10", "MRR@10"], table,
        {**metrics, "best_fusion": best, "best_fusion_minus_single_modality_P@5": paired},
        notes=[f"{len(rows)} held-out query items searching all {len(products)} items "
               "(title -> item searches the held-out items); ± is the 95% confidence interval.",
               "P@5 of 'item: same type' is the share of the top 5 with the query's article "
               f"type; best fusion with the trained alignment: {best}.",
               "paired difference in that P@5 over the same queries: " + "; ".join(
                   f"{best} - {o}: {d['mean']:+.3f} ± {d['ci95']:.3f}" for o, d in paired.items())],
        plots=[plot])
