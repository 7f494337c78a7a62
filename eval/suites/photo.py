"""Photos from another shop: H&M product photos queried against the Myntra catalogue. A result is
right when its Myntra article type is one the H&M product type maps to (the table in
``eval/data/hm_to_myntra_kinds.csv``, shown in the report). The H&M articles are split by product
code (colour variants share one): queries come from held-out codes only; the rows that learn
from H&M (the kind classifier's photos, the encoder's photo-text pairs) use the training codes."""
from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from retrieval import (
    CONFIDENCE,
    Captions,
    ClipEncoder,
    Features,
    KindClassifier,
    KindPhotos,
    caption_features,
    holdout_split,
    kind_first,
    load_catalog,
    project,
    read_kind_map,
    tower_features,
    train_alignment,
)

from ..context import Context
from ..result import SuiteResult
from .kagl import VARIANTS

KINDS_FILE = Path(__file__).parent.parent / "data" / "hm_to_myntra_kinds.csv"
PER_KIND = 40          # photos drawn per H&M product type (8 with --quick)
MIN_PHOTOS = 5         # product types with fewer photos in the sample are left out
K = 10
SERVED = "default encoder, fused index (as served)"
BEST = "default encoder + H&M pairs, kind named first (classifier on Myntra + H&M training codes)"


def kind_table() -> dict[str, set[str]]:
    """H&M product type -> the Myntra article types that are the same kind of product."""
    return read_kind_map(KINDS_FILE)


def hm_split(ctx: Context) -> tuple[list, list]:
    """The H&M articles with text and photo, as (training, held-out) by product code."""
    products = [p for p in load_catalog(ctx.hm_path, check_images=False).products
                if p.title and p.image_path]
    split = holdout_split([p.id[:7] for p in products], 0.2, ctx.seed)
    return [products[i] for i in split.train], [products[i] for i in split.test]


def sample_photos(ctx: Context, held_out: list, table: dict[str, set[str]]) -> list:
    """Up to PER_KIND held-out H&M products per mapped product type (fixed by the seed)."""
    by_kind = defaultdict(list)
    for p in held_out:
        if p.article_type in table:
            by_kind[p.article_type].append(p)
    rng = np.random.default_rng(ctx.seed)
    per_kind = 8 if ctx.quick else PER_KIND
    chosen = []
    for kind in sorted(by_kind):
        group = by_kind[kind]
        if len(group) >= MIN_PHOTOS:
            chosen += [group[i] for i in sorted(rng.choice(len(group), min(per_kind, len(group)),
                                                           replace=False))]
    return chosen


def trained_with_hm(ctx: Context, hm_train: list) -> ClipEncoder:
    """The default architecture trained on the Myntra training split plus the H&M training
    codes' pairs (each photo with one of its captions per epoch)."""
    encoder = copy.deepcopy(ctx.base_encoder)
    rows = ctx.split.train
    mine, theirs = ctx.features.subset(rows), tower_features(hm_train, encoder)
    caps, hm_caps = ctx.captions.subset(rows), caption_features(hm_train, encoder)
    both = Features(*(np.concatenate([getattr(mine, f), getattr(theirs, f)])
                      for f in ("image", "text", "has_image", "has_text")))
    train_alignment(encoder, both, Captions(np.concatenate([caps.text, hm_caps.text]),
                                            np.concatenate([caps.owner, hm_caps.owner + len(rows)])),
                    seed=ctx.seed)
    return encoder


def nearest_photos(photos: np.ndarray, emb: Features, types: np.ndarray | None = None,
                   named: list[str] | None = None) -> np.ndarray:
    """(queries x K) catalogue rows of the photos nearest each query photo in the shared space;
    with ``named`` (a kind per query), products of that kind (``types``) come first."""
    gallery = np.flatnonzero(emb.has_image)
    order = gallery[np.argsort(-(photos @ emb.image[gallery].T), axis=1)]
    if named is None:
        return order[:, :K]
    return np.array([row[np.argsort(types[row] != kind, kind="stable")][:K]
                     for row, kind in zip(order, named)])


def kind_classifier(ctx: Context, emb: Features, more: KindPhotos | None = None) -> KindClassifier:
    """Names a photo's Myntra article type; learnt from the training split's photos (and
    ``more``)."""
    rows = ctx.split.train
    return KindClassifier.for_catalogue(emb.image[rows], emb.has_image[rows],
                                        [ctx.catalog.products[r] for r in rows], more)


def same_kind(top: np.ndarray, myntra_types: np.ndarray, queries: list, table) -> np.ndarray:
    """(queries x K) booleans: result j of query i is the same kind of product."""
    return np.array([[myntra_types[r] in table[q.article_type] for r in row]
                     for q, row in zip(queries, top)])


def scores(hits: np.ndarray, kinds: np.ndarray) -> dict:
    by_kind = {k: float(hits[kinds == k].mean()) for k in sorted(set(kinds))}
    return {"top-1": float(hits[:, 0].mean()), "P@10": float(hits.mean()),
            "P@10 mean over kinds": float(np.mean(list(by_kind.values()))),
            "P@10 by kind": by_kind,
            "top-1 by kind": {k: float(hits[kinds == k, 0].mean()) for k in sorted(set(kinds))}}


def plot(best: dict, served: dict, counts: dict, path: Path) -> None:
    kinds = sorted(best["P@10 by kind"], key=best["P@10 by kind"].get)
    fig, ax = plt.subplots(figsize=(8, max(4, 0.2 * len(kinds))))
    ax.barh(range(len(kinds)), [best["P@10 by kind"][k] for k in kinds], color="#4c72b0",
            label=f"P@10, {BEST}")
    ax.scatter([served["P@10 by kind"][k] for k in kinds], range(len(kinds)), color="#dd8452",
               s=12, label=f"P@10, {SERVED}", zorder=3)
    ax.axvline(0.7, ls="--", color="grey")
    ax.set_yticks(range(len(kinds)), [f"{k} ({counts[k]})" for k in kinds], fontsize=6)
    ax.set_xlim(0, 1)
    ax.set_xlabel("same kind among the top 10 Myntra results of a held-out H&M photo")
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: Context) -> SuiteResult:
    table = kind_table()
    hm_train, held_out = hm_split(ctx)
    hm_train = hm_train[:ctx.limit] if ctx.limit else hm_train
    queries = sample_photos(ctx, held_out, table)
    kinds = np.array([q.article_type for q in queries], dtype=object)
    products = ctx.catalog.products
    myntra_types = np.array([p.article_type or "" for p in products], dtype=object)
    results, rows = {}, []

    def record(name: str, top: np.ndarray, named: list[str] | None = None) -> None:
        results[name] = scores(same_kind(top, myntra_types, queries, table), kinds)
        right = None
        if named is not None:
            right = float(np.mean([k is not None and k in table[q.article_type]
                                   for k, q in zip(named, queries)]))
            results[name]["kind named right"] = right
        rows.append([name, results[name]["top-1"], results[name]["P@10"],
                     results[name]["P@10 mean over kinds"], "" if right is None else right])

    def kind_named(photos: np.ndarray, emb: Features, label: str,
                   more: KindPhotos | None) -> None:
        """The row where the photo's kind, named by a classifier, comes first."""
        named = [k for k, _ in kind_classifier(ctx, emb, more).predict(photos)]
        record(f"{label}, kind named first (classifier on "
               f"{'Myntra photos' if more is None else 'Myntra + H&M training codes'})",
               nearest_photos(photos, emb, myntra_types, named), named)

    for variant in VARIANTS:
        encoder, emb = ctx.trained(variant.spec, variant.captions, variant.category_path)
        record(f"{variant.name}: photo to photos",
               nearest_photos(project(tower_features(queries, encoder), encoder).image, emb))
    photos = project(tower_features(queries, ctx.encoder), ctx.encoder).image
    hm_photos = KindPhotos.of(hm_train, table, ctx.encoder)
    kind_named(photos, ctx.embeddings, "default encoder", None)
    kind_named(photos, ctx.embeddings, "default encoder", hm_photos)
    encoder = trained_with_hm(ctx, hm_train)
    emb = project(ctx.features, encoder)
    theirs = project(tower_features(queries, encoder), encoder).image
    record("default encoder + H&M pairs (training codes): photo to photos",
           nearest_photos(theirs, emb))
    kind_named(theirs, emb, "default encoder + H&M pairs", KindPhotos.of(hm_train, table, encoder))
    # The default encoder as the shop serves it: the fused index, as for an uploaded photo, and
    # the kind named by the classifier a build learns from the catalogue's own photos.
    row_of = {p.id: i for i, p in enumerate(products)}
    emb = ctx.embeddings
    learnt = KindClassifier.for_catalogue(emb.image, emb.has_image, products)
    taught = KindClassifier.for_catalogue(emb.image, emb.has_image, products, hm_photos)
    for name, classifier in ((f"{SERVED}, no kind named (served before)", None), (SERVED, learnt),
                             (f"{SERVED}, built with --kind-photos (H&M training codes)", taught)):
        found = [kind_first(ctx.index, ctx.fusion.query(v[None])[0], v, classifier, K)
                 for v in photos]
        record(name, np.array([[row_of[r.id] for r in f.results] for f in found]),
               [f.kind for f in found] if classifier else None)
    counts = {k: int((kinds == k).sum()) for k in sorted(set(kinds))}
    path = "photo.png"
    plot(results[BEST], results[SERVED], counts, ctx.out / path)
    mapping = "; ".join(f"{h} -> {'/'.join(sorted(m))}" for h, m in table.items())
    return SuiteResult(
        "photo",
        {"queries": len(queries), "kinds": len(counts), "per kind": max(counts.values()), "k": K,
         "gallery": int(ctx.features.has_image.sum()), "seed": ctx.seed},
        ["encoder and search", "same kind top-1", "same kind P@10", "P@10 mean over kinds",
         "kind named right"],
        rows, {"results": results, "photos per kind": counts,
               "kinds": {h: sorted(m) for h, m in table.items()}},
        notes=[f"{len(queries)} H&M product photos ({len(counts)} product types, up to "
               f"{max(counts.values())} each) against the {int(ctx.features.has_image.sum())} Myntra photos.",
               "Same kind: the result's Myntra article type is one the H&M type maps to: "
               + mapping + ".",
               f"Queries: held-out H&M product codes ({len(held_out)} articles); the '+ H&M pairs' "
               f"row also trains on the {len(hm_train)} articles of the other codes "
               "(photo with title, kind or canonical text), next to the Myntra training split.",
               "photo to photos: nearest Myntra photos in the shared space; kind named first: a "
               "linear classifier on the photo's embedding names one Myntra article type (learnt "
               "from the Myntra training split's photos, and where said from the H&M training "
               "codes' photos labelled with the types their H&M type maps to), and the nearest "
               "photos of that type come first; kind named right: that type is one the query's "
               "H&M type maps to. as served: the default encoder and fusion through the index, as an "
               "uploaded photo is searched, the kind named by the classifier the build learns "
               "from the catalogue's own photos (only when its probability is at least "
               f"{CONFIDENCE}); served before: without it; built with --kind-photos: the "
               "classifier also learns from the H&M training codes' photos."],
        plots=[path])
