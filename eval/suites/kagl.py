"""The encoder beside the public fashion models on Marqo's KAGL protocol (the Kaggle Myntra
catalogue): product titles as text queries against the whole catalogue's photos, and category
names against products scored as 0.9 image + 0.1 title.

Unlike the anchors (zero-shot), our encoder trains on the catalogue, so only held-out products
are queried: a held-out title must find its own product's photo (or a held-out twin with the same
title) while every training photo stays in the gallery as a distractor; category queries rank the
held-out products, and once more the whole catalogue as the anchors do, each product scored by a
model trained without it (cross-fitting over five folds). Each architecture is trained on the
training split, one change at a time (the ablation)."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from retrieval import DEFAULT_ENCODER, ClipEncoder, Features, text_features, unit

from ..context import FOLDS, Context
from ..result import SuiteResult

DATA = Path(__file__).parent.parent / "data"
ANCHORS = json.loads((DATA / "kagl_anchors.json").read_text())
PARAPHRASES = json.loads((DATA / "kagl_category_paraphrases.json").read_text())["category"]


class Variant(NamedTuple):
    """One ablation row: an architecture and what it trains on."""

    name: str
    spec: str
    captions: bool            # several captions per photo (else the canonical text only)
    category_path: bool       # the kind caption ends with its category and sub-category


# one change per row from the one above it; the last is the default (DEFAULT_ROW)
VARIANTS = (
    Variant("linear heads, canonical text", "lit-effnet-lite0-minilm", False, False),
    Variant("linear heads, captions", "lit-effnet-lite0-minilm", True, False),
    Variant("MLP heads, captions", "lit-effnet-lite0-minilm-mlp", True, False),
    Variant("MLP heads, captions, last stage trained", "lit-effnet-lite0-minilm-mlp-stage7",
            True, False),
    Variant("linear heads, captions, stage-6 maps", "lit-effnet-lite0-minilm-maps", True, False),
    Variant("linear heads, captions with category path, stage-6 maps",
            "lit-effnet-lite0-minilm-maps", True, True),
    Variant("same, EfficientNet-Lite2 image tower", "lit-effnet-lite2-minilm-maps", True, True),
)
DEFAULT_VARIANT = next(v for v in VARIANTS
                       if v.spec == DEFAULT_ENCODER and v.captions and v.category_path)
DEFAULT_ROW = DEFAULT_VARIANT.name
CATEGORY_FIELDS = {"category": "category", "sub-category": "subcategory",
                   "fine-category": "article_type"}
BATCH = 512
RETRAINED = 3          # times the default is trained again with other seeds
CROSS_FITTED = {"default": DEFAULT_VARIANT, "EfficientNet-Lite0 image tower": VARIANTS[-2]}


def whole_row(short: str) -> str:
    """The table's name for a row asked again on the whole catalogue."""
    return f"{short}, cross-fitted over {FOLDS} folds: the whole catalogue as the gallery"


def best_relevant_ranks(queries: np.ndarray, gallery: np.ndarray,
                        relevant: list[np.ndarray]) -> np.ndarray:
    """0-based rank of each query's best-scoring relevant gallery row (ties count against it)."""
    ranks = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), BATCH):
        scores = queries[start:start + BATCH] @ gallery.T
        for i, row in enumerate(scores):
            ranks[start + i] = (row > row[relevant[start + i]].max()).sum()
    return ranks


def title_queries(ctx: Context) -> dict:
    """One query per distinct held-out title; its relevant rows under the two relevance rules."""
    products = ctx.catalog.products
    has_image = ctx.features.has_image
    held_out = set(ctx.split.test.tolist())
    rows_of = defaultdict(list)
    for row, p in enumerate(products):
        if p.title.strip() and has_image[row]:
            rows_of[p.title.strip()].append(row)
    titles = sorted({products[r].title.strip() for r in held_out} & set(rows_of))
    strict = [np.array([r for r in rows_of[t] if r in held_out]) for t in titles]
    shared = [np.array(rows_of[t]) for t in titles]
    unseen = np.array([len(s) == len(a) for s, a in zip(strict, shared)])
    return {"titles": titles, "strict": strict, "shared": shared, "unseen": unseen}


def text_to_image(encoder: ClipEncoder, emb: Features, queries: dict) -> dict:
    gallery_rows = np.flatnonzero(emb.has_image)
    position = np.full(len(emb), -1)
    position[gallery_rows] = np.arange(len(gallery_rows))
    q = encoder.project_texts(text_features(queries["titles"], encoder))
    gallery = emb.image[gallery_rows]
    out = {}
    for rule in ("strict", "shared"):
        ranks = best_relevant_ranks(q, gallery, [position[r] for r in queries[rule]])
        out[rule] = ranks
    out["unseen"] = out["strict"][queries["unseen"]]
    return {name: {"R@1": float((r < 1).mean()), "R@10": float((r < 10).mean()),
                   "MRR": float((1 / (r + 1)).mean()), "n": int(len(r))}
            for name, r in out.items()}


def precision(scores: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    """P@1, P@10 and MRR of each name's query (a row of ``scores`` over the gallery's
    ``labels``), averaged over the names as Marqo's tasks do."""
    order = np.argsort(-scores, axis=1, kind="stable")
    wanted = np.array(names, dtype=object)[:, None]
    hits = labels[order[:, :10]] == wanted
    first = (labels[order] == wanted).argmax(1)
    return {"P@1": float(hits[:, 0].mean()), "P@10": float(hits.mean()),
            "MRR": float((1 / (first + 1)).mean()), "queries": len(names),
            "P@10 by name": {name: (float(h.mean()), int((labels == name).sum()))
                             for name, h in zip(names, hits)}}


def products_as_docs(emb: Features, title_emb: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Marqo's product vectors: 0.9 image + 0.1 title."""
    return unit(0.9 * emb.image[rows] + 0.1 * title_emb[rows])


def category_to_product(ctx: Context, encoder: ClipEncoder, emb: Features, title_emb: np.ndarray,
                        field: str, phrasing: dict[str, str] | None = None) -> dict:
    """Marqo's category tasks over the held-out products; each name is asked as itself, or in
    the words ``phrasing`` gives it."""
    rows = ctx.split.test[emb.has_image[ctx.split.test]]
    labels = np.array([getattr(ctx.catalog.products[r], field) or "" for r in rows], dtype=object)
    names = sorted(set(labels) - {""})
    queries = encoder.encode_texts([(phrasing or {}).get(n, n) for n in names])
    return precision(queries @ products_as_docs(emb, title_emb, rows).T, labels, names)


def titles_projected(ctx: Context, encoder: ClipEncoder, rows: np.ndarray) -> np.ndarray:
    """The titles of ``rows`` through ``encoder``'s text tower (zero where a product has none),
    one row per catalogue product."""
    products = ctx.catalog.products
    out = np.zeros((len(products), encoder.embed_dim), dtype=np.float32)
    titled = [r for r in rows if products[r].title.strip()]
    if titled:
        out[titled] = encoder.project_texts(text_features(
            [products[r].title.strip() for r in titled], encoder))
    return out


def cross_fitted_categories(ctx: Context, variant: Variant) -> dict:
    """The category tasks on the anchors' own gallery, the whole catalogue, with no product
    scored by a model that trained on it: ``variant`` is trained once per fold (a fifth held out
    each time, fold 0 the suite's split), each fold's products are scored by their fold's model,
    and each query's scores are standardised within the fold (the folds are random fifths, so
    the same score distribution is expected of each) before the folds are ranked together."""
    products = ctx.catalog.products
    folds = []
    for k in range(FOLDS):
        encoder, emb = ctx.trained(variant.spec, variant.captions, variant.category_path,
                                   fold=k)
        held_out = ctx.fold(k).test
        rows = held_out[emb.has_image[held_out]]
        folds.append((encoder, rows,
                      products_as_docs(emb, titles_projected(ctx, encoder, rows), rows)))
    rows = np.concatenate([r for _, r, _ in folds])
    bounds = np.cumsum([0, *(len(r) for _, r, _ in folds)])
    out = {}
    for task, field in CATEGORY_FIELDS.items():
        labels = np.array([getattr(products[r], field) or "" for r in rows], dtype=object)
        names = sorted(set(labels) - {""})
        standardised, alone = [], []
        for (encoder, _, docs), start, stop in zip(folds, bounds, bounds[1:]):
            s = encoder.encode_texts(names) @ docs.T
            standardised.append((s - s.mean(1, keepdims=True)) / s.std(1, keepdims=True))
            fold_labels = labels[start:stop]
            present = set(fold_labels)
            asked = [i for i, n in enumerate(names) if n in present]
            alone.append(precision(s[asked], fold_labels, [names[i] for i in asked])["P@10"])
        out[task] = {**precision(np.concatenate(standardised, axis=1), labels, names),
                     "P@10 of each fold alone": alone}
    return out


def kind_queries(ctx: Context, encoder: ClipEncoder, emb: Features, n: int = 500) -> dict:
    """Shopper-style queries ("Men Navy Blue Shirts") from held-out products against the
    held-out photos; relevant: same gender, colour and article type."""
    products = ctx.catalog.products
    rows = ctx.split.test[emb.has_image[ctx.split.test]]
    key = np.array([f"{p.gender}|{p.colour}|{p.article_type}" for p in products], dtype=object)
    rng = np.random.default_rng(ctx.seed)
    asked = rng.choice(rows, min(n, len(rows)), replace=False)
    texts = [" ".join(x for x in (products[r].gender, products[r].colour,
                                  products[r].article_type) if x) for r in asked]
    top = rows[np.argsort(-(encoder.encode_texts(texts) @ emb.image[rows].T), axis=1)[:, :10]]
    return {"P@10": float((key[top] == key[asked][:, None]).mean()), "queries": len(asked)}


def plot(results: dict, whole: dict[str, dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(14, 3.8), width_ratios=(1, 1.2))
    names = list(results)
    y = np.arange(len(names))
    axes[0].barh(y, [results[n]["text-to-image"]["strict"]["R@10"] for n in names],
                 color="#4c72b0", label="held-out titles")
    axes[0].barh(y + 0.4, [results[n]["text-to-image"]["unseen"]["R@10"] for n in names],
                 height=0.4, color="#dd8452", label="titles never trained on")
    for model, figures in ANCHORS["text-to-image"].items():
        if model in ("Marqo-FashionSigLIP", "FashionCLIP2.0"):
            axes[0].axvline(figures["R@10"], ls="--", color="grey")
            axes[0].text(figures["R@10"], len(names) - 0.4, model, fontsize=7, rotation=90,
                         va="top", ha="right")
    axes[0].set_yticks(y + 0.2, names, fontsize=8)
    axes[0].set_xlabel("title -> photo R@10 (44k gallery)")
    axes[0].legend(fontsize=7, loc="lower right")
    tasks = list(CATEGORY_FIELDS)
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        axes[1].bar(np.arange(len(tasks)) + i * width,
                    [results[n][t]["P@10"] for t in tasks], width, label=n)
    best = [max(a["P@10"] for a in ANCHORS[t].values()) for t in tasks]
    axes[1].scatter(np.arange(len(tasks)) + 0.4 - width / 2, best, marker="_", s=400,
                    color="black", label="best anchor", zorder=3)
    for (short, fitted), colour in zip(whole.items(), ("crimson", "darkgreen")):
        axes[1].scatter(np.arange(len(tasks)) + 0.4 - width / 2,
                        [fitted[t]["P@10"] for t in tasks], marker="x", s=60, color=colour,
                        zorder=3, label=f"{short}, whole catalogue (cross-fitted)")
    axes[1].set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, tasks)
    axes[1].set_ylabel("P@10")
    axes[1].set_ylim(0, 1)
    axes[1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def scores(ctx: Context, encoder: ClipEncoder, emb: Features, queries: dict) -> dict:
    """Every task of the suite for one trained encoder and its embeddings of the catalogue."""
    title_emb = titles_projected(ctx, encoder, np.arange(len(ctx.catalog)))
    return {"text-to-image": text_to_image(encoder, emb, queries),
            "kind queries": kind_queries(ctx, encoder, emb),
            **{task: category_to_product(ctx, encoder, emb, title_emb, field)
               for task, field in CATEGORY_FIELDS.items()},
            "category, paraphrased": category_to_product(ctx, encoder, emb, title_emb,
                                                         "category", PARAPHRASES)}


def figures(r: dict) -> list[float]:
    """One encoder's figures in the order of the table's columns."""
    t2i = r["text-to-image"]
    return [t2i["strict"]["R@1"], t2i["strict"]["R@10"], t2i["strict"]["MRR"],
            t2i["unseen"]["R@10"], t2i["shared"]["R@10"], r["category"]["P@10"],
            r["sub-category"]["P@10"], r["fine-category"]["P@10"], r["kind queries"]["P@10"],
            r["category, paraphrased"]["P@10"]]


def seed_spread(ctx: Context, queries: dict, runs: int = RETRAINED) -> dict:
    """The default trained again with other seeds (which captions are drawn, batch order; same
    split): how far its figures move when nothing else changes."""
    return {seed: scores(ctx, *ctx.trained(DEFAULT_ENCODER, seed=seed), queries)
            for seed in range(ctx.seed + 1, ctx.seed + 1 + runs)}


def run(ctx: Context) -> SuiteResult:
    queries = title_queries(ctx)
    results = {variant.name: {"architecture": variant.spec, "captions": variant.captions,
                              "category path": variant.category_path,
                              **scores(ctx, *ctx.trained(variant.spec, variant.captions,
                                                         variant.category_path), queries)}
               for variant in VARIANTS}
    spread = {ctx.seed: results[DEFAULT_ROW], **seed_spread(ctx, queries)}
    whole = {short: cross_fitted_categories(ctx, variant)
             for short, variant in CROSS_FITTED.items()}
    columns = ["model", "R@1", "R@10", "MRR", "R@10 unseen titles", "R@10 shared-title rule",
               "category P@10", "sub-category P@10", "fine-category P@10", "kind query P@10",
               "category P@10, paraphrased"]
    rows = [[name, *figures(r)] for name, r in results.items()]
    by_seed = np.array([figures(r) for r in spread.values()])
    rows.append([f"default, mean of seeds {', '.join(map(str, spread))}",
                 *by_seed.mean(0).tolist()])
    rows += [[whole_row(short), "", "", "", "", "",
              *(fitted[task]["P@10"] for task in CATEGORY_FIELDS), "", ""]
             for short, fitted in whole.items()]
    by_column = dict(zip(columns[1:], by_seed.T))
    ranges = {task: (by_column[task].min(), by_column[task].max())
              for task in ("R@10", "category P@10", "sub-category P@10", "category P@10, paraphrased")}
    for model, t2i in ANCHORS["text-to-image"].items():
        rows.append([f"{model} (published, zero-shot)", t2i["R@1"], t2i["R@10"], t2i["MRR"], "",
                     "", ANCHORS["category"][model]["P@10"], ANCHORS["sub-category"][model]["P@10"],
                     ANCHORS["fine-category"][model]["P@10"], "", ""])
    path = "kagl.png"
    plot(results, whole, ctx.out / path)
    first = results[VARIANTS[0].name]["text-to-image"]
    return SuiteResult(
        "kagl",
        {"catalog": str(ctx.catalog_path), "items": len(ctx.catalog), "seed": ctx.seed,
         "default encoder": DEFAULT_ENCODER, "queries": first["strict"]["n"],
         "unseen-title queries": first["unseen"]["n"]},
        columns, rows, {"ours": results, "anchors": ANCHORS, "cross-fitted": whole,
                        "default by seed": {seed: dict(zip(columns[1:], row))
                                            for seed, row in zip(spread, by_seed.tolist())}},
        notes=[
            f"{first['strict']['n']} distinct held-out titles as queries, every catalogue photo "
            f"({int(ctx.features.has_image.sum())}) as the gallery. R@k: a held-out product with "
            "that title is in the top k; training photos are distractors even when their title is "
            "the same. 'unseen titles': the "
            f"{first['unseen']['n']} titles no training product has. 'shared-title rule': "
            "Marqo's relevance, where any product with that title counts (training twins too).",
            "Category tasks: the category name as the query (masterCategory, subCategory, "
            "articleType), the held-out products as the gallery, each scored 0.9 image + 0.1 "
            "title; P@1, P@10 and MRR averaged over the names.",
            "kind query: 'Men Navy Blue Shirts' built from 500 held-out products (gender, colour, "
            "article type) against the held-out photos; relevant: the same three. It is the "
            "template of the 'kind' training caption, so it shows what training on that caption "
            "buys for shoppers' attribute searches, not how phrasings beyond it fare.",
            "Anchors: " + ANCHORS["source"] + ".",
            "Each row trains the architecture on the training split only. canonical text: each "
            "photo paired with its product's canonical text; captions: with one of its title, "
            "its kind ('gender colour type') and canonical text, drawn each epoch. last stage "
            "trained: EfficientNet's 7th stage learns with the heads (from cached maps). stage-6 "
            "maps: the maps stage 6 outputs (4 x 4) join the pooled features, so the head sees "
            "where things are. with category path: the kind caption ends with the category and "
            "sub-category the type falls under ('Men Navy Blue Shirts Apparel Topwear'), so the "
            "broad names are learnt from every product. EfficientNet-Lite2: the same with the "
            "larger image tower (a 4.8M-parameter trunk against Lite0's 3.4M, packaged weights, same "
            f"128 px photos). The default encoder: '{DEFAULT_ROW}'.",
            "Unlike the zero-shot anchors, the rows with the category path have trained on the very "
            "words of the category and sub-category queries (with other products' photos), so "
            "those tasks measure how well unseen photos are sorted under trained names. "
            "'paraphrased': the category task asked in a shopper's words instead ("
            + ", ".join(f"{k} -> '{v}'" for k, v in PARAPHRASES.items()) +
            "; eval/data/kagl_category_paraphrases.json, written by hand apart from the captions).",
            f"Seeds: the default trained {len(spread)} times on the same split, only the seed "
            "changed (caption draws, batch order); min-max over them: " + ", ".join(
                f"{task} {low:.3f}-{high:.3f}" for task, (low, high) in ranges.items()) +
            ". A difference between rows smaller than these is chance.",
            "Category P@10 by name for the default (the names whose held-out products are few "
            "cap it: with n products a name's P@10 is at most n/10): " + ", ".join(
                f"{name} {p:.1f} (n={n})" for name, (p, n) in
                results[DEFAULT_ROW]["category"]["P@10 by name"].items()) + ".",
            "The anchors' category tasks rank the whole catalogue (Marqo's ground truth lists "
            "every product under its name) and average over every name it has: 7 categories, "
            "Home with a single product. The held-out rows above rank a fifth of it over the "
            "names that fifth has (6 categories, no Home), so their ceilings differ. The "
            "'cross-fitted' rows ask the anchors' question of the whole catalogue without scoring "
            f"a product by a model that trained on it: the row's encoder trained {FOLDS} times, "
            "each time with another fifth held out (fold 0 is the split above), every product "
            "scored by the model that held it out, each query's scores standardised within its "
            "fold (random fifths, so the same distribution is expected of each), then ranked "
            "together.",
            *(f"Cross-fitted {short}: category P@10 by name " + ", ".join(
                f"{name} {p:.1f} (n={n})"
                for name, (p, n) in fitted["category"]["P@10 by name"].items()) + "; each "
              "fold's held-out fifth ranked alone, as the rows above rank fold 0 (which products "
              "are held out moves it more than the seed does): " + ", ".join(
                f"{p:.3f}" for p in fitted["category"]["P@10 of each fold alone"]) + "."
              for short, fitted in whole.items()),
        ],
        plots=[path])
