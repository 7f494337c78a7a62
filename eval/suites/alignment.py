"""Held-out text-to-image retrieval before and after training the alignment (LiT)."""
from __future__ import annotations

from ..context import Context
from ..result import SuiteResult


def run(ctx: Context) -> SuiteResult:
    _ = ctx.encoder  # trains on the training split, scores the held-out split before and after
    rows = []
    metrics = {}
    for name, s in (("untrained projection", ctx.alignment_before),
                    ("trained alignment", ctx.alignment_after)):
        rows.append([name, s.recall_at_1, s.recall_at_10, s.mrr, s.n_queries])
        metrics[name] = {"recall@1": s.recall_at_1, "recall@10": s.recall_at_10, "mrr": s.mrr,
                         "n_queries": s.n_queries}
    return SuiteResult(
        "alignment",
        {"catalog": str(ctx.catalog_path), "items": len(ctx.catalog), "held_out": len(ctx.split.test),
         "encoder": ctx.encoder_spec, "seed": ctx.seed},
        ["projection", "R@1", "R@10", "MRR", "queries"], rows, metrics,
        notes=["Each held-out product's text must retrieve its own photo among all held-out photos."])
