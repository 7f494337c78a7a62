"""Faithfulness of the evidence by feature removal, on a fixed sample of matches.

Matches: held-out catalogue items as queries, half by their title as a text query, half as an
item query, each with its top search result. For each match the evidence is computed for the
shared-space similarity that the result's photo and text have with the query, then removed:
- image: the top-k% heat-map regions of the product vs smooth random maps of the same
  resolution (3 seeds), painted white or blurred, for several heat-maps (pytorch-grad-cam methods
  and layers, captum occlusion);
- text: the top-n attributed words (integrated gradients) vs n random words (3 seeds).
A match counts as *faithful* when removing its evidence lowers the similarity more than random
removal does, averaged over the deletion curve (k = 5..40%, n = 1..5).
"""
from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from explain.faithfulness import FRACTIONS, WORD_COUNTS, image_deletions, text_deletions
from explain.gradcam import OcclusionMap, SimilarityCAM
from explain.tokens import DEFAULT_STEPS, TextAttributor
from retrieval.ingest import open_rgb
from retrieval.search import Searcher

from ..context import Context
from ..stats import percentiles
from ..stats import summary as stat
from . import SuiteResult

N_MATCHES = 120
FILLS = {"fill": "white fill", "blur": "blur"}     # how removed regions are painted
CAMS = {"Grad-CAM conv_head": ("conv_head", "gradcam"),
        "LayerCAM blocks.1": ("blocks.1", "layercam"),
        "LayerCAM blocks.0": ("blocks.0", "layercam"),
        "occlusion (captum)": None}


def matches(ctx, searcher: Searcher, n: int) -> list[tuple[str, str, np.ndarray, object]]:
    """(kind, query text or id, shared-space query vector, top result) for ``n`` held-out items."""
    products = ctx.catalog.products
    out = []
    for i, row in enumerate(ctx.query_rows(n)):
        p = products[row]
        if i % 2 == 0:
            q = searcher.encoder.encode_texts([p.title])[0]
            top = searcher.text(p.title, 1)[0]
            out.append(("text", p.title, q, top))
        else:
            image, text, has_image, has_text = searcher.index.embedding(p.id)
            q = image if has_image else text
            top = searcher.item(p.id, 1)[0]
            out.append(("item", p.id, q, top))
    return out


def curve(deletions) -> dict[str, np.ndarray]:
    return {"evidence": np.array([d.comprehensiveness for d in deletions]),
            "random": np.array([d.random_drop for d in deletions]),
            "sufficiency": np.array([d.sufficiency for d in deletions])}


def run(ctx: Context) -> SuiteResult:
    n = 40 if ctx.quick else N_MATCHES
    searcher = Searcher(ctx.index, ctx.encoder)
    sample = matches(ctx, searcher, n)
    cams = {name: SimilarityCAM(ctx.encoder, *spec) if spec else OcclusionMap(ctx.encoder)
            for name, spec in CAMS.items()}
    words = TextAttributor(ctx.encoder, DEFAULT_STEPS)
    image = {f"{name}, {FILLS[mode]}": [] for name in cams for mode in FILLS}
    empty = {f"{name}, {FILLS[mode]}": 0 for name in cams for mode in FILLS}
    text, costs = [], {name: [] for name in [*cams, "token attribution"]}
    for _kind, _, q, result in tqdm(sample, desc="explaining matches", unit="match"):
        product = result.product
        if product.image_path:
            photo = open_rgb(product.image_path)[0]
            for name, cam in cams.items():
                heat = cam(photo, q)
                costs[name].append(heat.seconds)
                for mode, label in FILLS.items():
                    empty[f"{name}, {label}"] += heat.empty
                    image[f"{name}, {label}"].append(curve(image_deletions(
                        ctx.encoder, photo, heat.cam, q, mode=mode, grid=heat.grid)))
        if product.has_text:
            start = time.perf_counter()
            attribution = words(product.text, q)
            costs["token attribution"].append(time.perf_counter() - start)
            text.append(curve(text_deletions(ctx.encoder, attribution, q)))

    rows, metrics = [], {}
    for name, curves in [*image.items(), ("token attribution (IG)", text)]:
        ev = np.stack([c["evidence"] for c in curves])
        rnd = np.stack([c["random"] for c in curves])
        suf = np.stack([c["sufficiency"] for c in curves])
        faithful = (ev.mean(1) > rnd.mean(1)).astype(float)
        metrics[name] = {"matches": len(curves), "faithful share": stat(faithful),
                         "empty maps": empty.get(name, 0),
                         "comprehensiveness": stat(ev.mean(1)), "random drop": stat(rnd.mean(1)),
                         "sufficiency": stat(suf.mean(1)),
                         "curve": {"evidence": ev.mean(0).round(4).tolist(),
                                   "random": rnd.mean(0).round(4).tolist()}}
        m = metrics[name]
        rows.append([name, len(curves), empty.get(name, "-")] + [f"{m[k]['mean']:.3f} ± {m[k]['ci95']:.3f}" for k in
                                           ("faithful share", "comprehensiveness", "random drop",
                                            "sufficiency")])
    cost = {name: {k: round(v * 1000, 1) for k, v in percentiles(vals).items()}
            for name, vals in costs.items() if vals}
    _plot(ctx.out / "faithfulness.png", metrics)
    return SuiteResult(
        name="faithfulness",
        config={"items": len(ctx.catalog.products), "matches": len(sample),
                "text queries": sum(k == "text" for k, *_ in sample),
                "item queries": sum(k == "item" for k, *_ in sample),
                "image fractions": list(FRACTIONS), "word counts": list(WORD_COUNTS),
                "ig steps": DEFAULT_STEPS, "random seeds": 3, "fills": list(FILLS.values()),
                "cams": {k: {"layer": v[0], "method": v[1]} if v else {"method": "occlusion"}
                         for k, v in CAMS.items()}},
        columns=["evidence", "matches", "empty maps", "faithful share", "comprehensiveness",
                 "random drop", "sufficiency"],
        rows=rows,
        metrics={**metrics, "cost per match (ms, p50/p99)": cost},
        notes=["faithful share: matches whose evidence removal lowers the similarity more than "
               "random removal (mean over the deletion curve); comprehensiveness / random drop: "
               "similarity lost when the evidence / as much at random is removed; sufficiency: "
               "similarity lost when only the evidence is kept (lower is better).",
               "empty maps: heat-maps with no positive region (every weighted activation "
               "negative); their removal order is arbitrary.",
               "Cost per match (ms, p50 / p99): " + "; ".join(
                   f"{k} {v['p50']:.0f} / {v['p99']:.0f}" for k, v in cost.items())],
        plots=["faithfulness.png"],
    )


def _plot(path, metrics: dict) -> None:
    fig, axes = plt.subplots(1, 1 + len(FILLS), figsize=(6 * (1 + len(FILLS)), 4.5))
    xs = [100 * f for f in FRACTIONS]
    for ax, label in zip(axes, FILLS.values()):
        for name in (k for k in metrics if k.endswith(f", {label}")):
            line, = ax.plot(xs, metrics[name]["curve"]["evidence"], marker="o",
                            label=name.removesuffix(f", {label}"))
            ax.plot(xs, metrics[name]["curve"]["random"], ls="--", color=line.get_color())
        ax.set_xlabel("% of the product's pixels removed")
        ax.set_ylabel("similarity drop")
        ax.set_title(f"image, {label}: heat-map (solid) vs random maps (dashed)")
        ax.legend(fontsize=7)
    tok = metrics["token attribution (IG)"]["curve"]
    axes[-1].plot(WORD_COUNTS, tok["evidence"], marker="o", label="top attributed words")
    axes[-1].plot(WORD_COUNTS, tok["random"], ls="--", label="random words")
    axes[-1].set_xlabel("words removed")
    axes[-1].set_title("text: deletion curves")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
