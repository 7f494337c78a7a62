"""Photos from another shop: H&M product photos queried against the Myntra catalogue. A result is
right when its Myntra article type is one the H&M product type maps to (the table in
``eval/data/hm_to_myntra_kinds.csv``, shown in the report). The H&M articles are split by product
code (colour variants share one): queries come from held-out codes only, and the one row that
trains on H&M pairs uses the training codes' photos and texts."""
from __future__ import annotations

import copy
import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from retrieval.alignment import train_alignment
from retrieval.embed import Captions, Features, caption_features, project, tower_features
from retrieval.encoders import ClipEncoder
from retrieval.ingest import load_catalog
from retrieval.splits import holdout_split

from ..context import Context
from . import SuiteResult
from .kagl import VARIANTS

KINDS_FILE = Path(__file__).parent.parent / "data" / "hm_to_myntra_kinds.csv"
PER_KIND = 40          # photos drawn per H&M product type (8 with --quick)
MIN_PHOTOS = 5         # product types with fewer photos in the sample are left out
K = 10


def kind_table() -> dict[str, set[str]]:
    """H&M product type -> the Myntra article types that are the same kind of product."""
    with KINDS_FILE.open(newline="") as f:
        return {row["hm_product_type"]: set(row["myntra_article_types"].split(";"))
                for row in csv.DictReader(f)}


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
    hm_train = hm_train[:ctx.limit] if ctx.limit else hm_train
    rows = ctx.split.train
    mine, theirs = ctx.features.subset(rows), tower_features(hm_train, encoder)
    caps, hm_caps = ctx.captions.subset(rows), caption_features(hm_train, encoder)
    both = Features(*(np.concatenate([getattr(mine, f), getattr(theirs, f)])
                      for f in ("image", "text", "has_image", "has_text")))
    train_alignment(encoder, both, Captions(np.concatenate([caps.text, hm_caps.text]),
                                            np.concatenate([caps.owner, hm_caps.owner + len(rows)])),
                    seed=ctx.seed)
    return encoder


def nearest_photos(photos: np.ndarray, emb: Features) -> np.ndarray:
    """(queries x K) catalogue rows of the photos nearest each query photo in the shared space."""
    gallery = np.flatnonzero(emb.has_image)
    return gallery[np.argsort(-(photos @ emb.image[gallery].T), axis=1)[:, :K]]


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


def plot(result: dict, counts: dict, path: Path) -> None:
    kinds = sorted(result["P@10 by kind"], key=result["P@10 by kind"].get)
    fig, ax = plt.subplots(figsize=(8, max(4, 0.2 * len(kinds))))
    ax.barh(range(len(kinds)), [result["P@10 by kind"][k] for k in kinds], color="#4c72b0",
            label="P@10")
    ax.scatter([result["top-1 by kind"][k] for k in kinds], range(len(kinds)), color="#dd8452",
               s=12, label="top-1", zorder=3)
    ax.axvline(0.7, ls="--", color="grey")
    ax.set_yticks(range(len(kinds)), [f"{k} ({counts[k]})" for k in kinds], fontsize=6)
    ax.set_xlim(0, 1)
    ax.set_xlabel("same kind among the Myntra results (default encoder, search as served)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: Context) -> SuiteResult:
    table = kind_table()
    hm_train, held_out = hm_split(ctx)
    queries = sample_photos(ctx, held_out, table)
    kinds = np.array([q.article_type for q in queries], dtype=object)
    products = ctx.catalog.products
    myntra_types = np.array([p.article_type or "" for p in products], dtype=object)
    results, rows = {}, []

    def record(name: str, label: str, top: np.ndarray) -> None:
        results[name] = scores(same_kind(top, myntra_types, queries, table), kinds)
        rows.append([label, results[name]["top-1"], results[name]["P@10"],
                     results[name]["P@10 mean over kinds"]])

    for name, spec, captions in VARIANTS:
        encoder, emb = ctx.trained(spec, captions)
        top = nearest_photos(project(tower_features(queries, encoder), encoder).image, emb)
        record(name, f"{name}: photo to photos", top)
    name = "default encoder + H&M pairs (training codes)"
    encoder = trained_with_hm(ctx, hm_train)
    top = nearest_photos(project(tower_features(queries, encoder), encoder).image,
                         project(ctx.features, encoder))
    record(name, f"{name}: photo to photos", top)
    # The default encoder as the shop serves it: the fused index, as for an uploaded photo.
    photos = project(tower_features(queries, ctx.encoder), ctx.encoder).image
    row_of = {p.id: i for i, p in enumerate(products)}
    top = np.array([[row_of[r.id] for r in ctx.index.search(ctx.fusion.query(v[None])[0], K)]
                    for v in photos])
    record("default encoder, fused index (as served)", "default encoder, fused index (as served)",
           top)
    served = results["default encoder, fused index (as served)"]
    counts = {k: int((kinds == k).sum()) for k in sorted(set(kinds))}
    path = "photo.png"
    plot(served, counts, ctx.out / path)
    mapping = "; ".join(f"{h} -> {'/'.join(sorted(m))}" for h, m in table.items())
    return SuiteResult(
        "photo",
        {"queries": len(queries), "kinds": len(counts), "per kind": max(counts.values()), "k": K,
         "gallery": int(ctx.features.has_image.sum()), "seed": ctx.seed},
        ["encoder and search", "same kind top-1", "same kind P@10", "P@10 mean over kinds"],
        rows, {"results": results, "photos per kind": counts,
               "kinds": {h: sorted(m) for h, m in table.items()}},
        notes=[f"{len(queries)} H&M product photos ({len(counts)} product types, up to "
               f"{max(counts.values())} each) against the {int(ctx.features.has_image.sum())} Myntra photos.",
               "Same kind: the result's Myntra article type is one the H&M type maps to: "
               + mapping + ".",
               f"Queries: held-out H&M product codes ({len(held_out)} articles); the '+ H&M pairs' "
               f"row also trains on the {len(hm_train)} articles of the other codes "
               "(photo with title, kind or canonical text), next to the Myntra training split.",
               "photo to photos: nearest Myntra photos in the shared space; as served: the "
               "default encoder and fusion through the index, as an uploaded photo is searched."],
        plots=[path])
