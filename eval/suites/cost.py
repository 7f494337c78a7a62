"""What an encoder architecture costs, each against the previous default in the same run:
training the alignment on the catalogue from a warm feature cache (and the build's kind
classifier after it), encoding photos and captions without the cache (build throughput), query
latency, and the cached features' size."""
from __future__ import annotations

import time

import numpy as np

from retrieval import (
    DEFAULT_ENCODER,
    KindClassifier,
    caption_features,
    create_encoder,
    open_rgb,
    project,
    tower_features,
    train_alignment,
)

from ..context import Context
from ..result import SuiteResult
from .latency import TEXT_QUERIES, timed_ms

BASELINE = "lit-effnet-lite0-minilm"       # the default before the kagl ablation
SAMPLE = 256                                # photos and products encoded without the cache
ROUNDS = 3                                  # speed measured in alternating rounds, median


def train_cost(ctx: Context, spec: str) -> tuple:
    """The encoder trained on the training split, and what that cost."""
    encoder = create_encoder(spec)
    products = ctx.catalog.products
    train = ctx.split.train
    feats = tower_features(products, encoder, report=ctx.catalog.report)     # warm
    start = time.perf_counter()
    captions = caption_features(products, encoder).subset(train)              # warm
    train_alignment(encoder, feats.subset(train), captions, seed=ctx.seed)
    trained = time.perf_counter()
    emb = project(feats, encoder)
    KindClassifier.for_catalogue(emb.image, emb.has_image, products)
    return encoder, {"train s": trained - start, "learn kinds s": time.perf_counter() - trained,
                     "cached bytes per photo": int(feats.image.shape[1] * 4),
                     "training photos": int(feats.has_image[train].sum())}


def speed(encoder, images: list, captions: list[str]) -> dict:
    """Encoding throughput without the cache, and single-query latency."""
    start = time.perf_counter()
    for i in range(0, len(images), 64):
        encoder.image_tower(images[i:i + 64])
    image_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, len(captions), 256):
        encoder.text_tower(captions[i:i + 256])
    caption_s = time.perf_counter() - start
    photo_ms = timed_ms(lambda i: encoder.encode_images([images[i % len(images)]]), 100)
    text_ms = timed_ms(lambda i: encoder.encode_texts([TEXT_QUERIES[i % len(TEXT_QUERIES)]]), 100)
    return {"photos/s": len(images) / image_s, "products' captions/s": len(images) / caption_s,
            "products/s, both towers": len(images) / (image_s + caption_s),
            "photo query ms p50": float(np.median(photo_ms)),
            "text query ms p50": float(np.median(text_ms))}


def run(ctx: Context) -> SuiteResult:
    specs = [BASELINE] + ([DEFAULT_ENCODER] if DEFAULT_ENCODER != BASELINE else [])
    trained = {spec: train_cost(ctx, spec) for spec in specs}
    sample = [p for p in ctx.catalog.products if p.has_image][:SAMPLE]
    images = [open_rgb(p.image_path)[0] for p in sample]
    captions = sorted((c for p in sample for c in p.captions), key=len)   # as the build batches them
    rounds = {spec: [] for spec in specs}
    for _ in range(ROUNDS + 1):            # alternate the encoders; the first round warms up
        for spec in specs:
            rounds[spec].append(speed(trained[spec][0], images, captions))
    results = {spec: {**trained[spec][1],
                      **{k: float(np.median([r[k] for r in rounds[spec][1:]]))
                         for k in rounds[spec][0]}}
               for spec in specs}
    base = results[BASELINE]
    columns = ["encoder", *base]
    rows = [[spec, *(f"{v:.3g}" if isinstance(v, float) else v for v in r.values())]
            for spec, r in results.items()]
    ratios = {spec: {k: r[k] / base[k] for k in r if k != "training photos"}
              for spec, r in results.items()}
    rows += [[f"{spec} / {BASELINE}",
              *(f"{ratios[spec][k]:.2f}" if k in ratios[spec] else "" for k in base)]
             for spec in specs[1:]]
    return SuiteResult(
        "cost",
        {"items": len(ctx.catalog), "sample": SAMPLE, "seed": ctx.seed},
        columns, rows, {"results": results, "ratios": ratios},
        notes=[f"train s: the alignment (captions: title, kind, canonical text) on the training "
               f"split, tower features and caption features already cached; learn kinds s: the build's "
               f"kind classifier on the whole catalogue's photos in that encoder's space; photos/s and "
               f"products' captions/s: {SAMPLE} products encoded without the cache (the build's "
               "encode stage), products/s both towers: the two together, the build's "
               "throughput; query ms: one photo or text query encoded, median of 100. Speeds: "
               f"median of {ROUNDS} rounds alternating the encoders, after a warm-up round."])
