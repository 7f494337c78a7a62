"""Faithfulness of the evidence by feature removal, on a fixed sample of matches.

Matches: held-out catalogue items as queries, half by their title as a text query, half as an
item query, each with its top search result. For each match the evidence is computed for the
shared-space similarity that the result's photo and text have with the query, then removed:
- image: the top-k% Grad-CAM regions of the product vs smooth random maps of the same
  resolution (3 seeds), for several CAM configurations (pytorch-grad-cam methods and layers);
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

from ..stats import percentiles, summary as stat
from . import SuiteResult

N_MATCHES = 120
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


def run(ctx) -> SuiteResult:
    n = 40 if ctx.quick else N_MATCHES
    searcher = Searcher(ctx.index, ctx.encoder)
    sample = matches(ctx, searcher, n)
    cams = {name: SimilarityCAM(ctx.encoder, *spec) if spec else OcclusionMap(ctx.encoder)
            for name, spec in CAMS.items()}
    words = TextAttributor(ctx.encoder, DEFAULT_STEPS)
    image = {name: [] for name in cams}
    empty = {name: 0 for name in cams}
    text, costs = [], {name: [] for name in [*cams, "token attribution"]}
    for kind, _, q, result in tqdm(sample, desc="explaining matches", unit="match"):
        product = result.product
        if product.image_path:
            photo = open_rgb(product.image_path)[0]
            for name, cam in cams.items():
                heat = cam(photo, q)
                costs[name].append(heat.seconds)
                empty[name] += heat.empty
                image[name].append(curve(image_deletions(ctx.encoder, photo, heat.cam, q,
                                                         grid=heat.grid)))
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
                "ig steps": DEFAULT_STEPS, "random seeds": 3,
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
    image = [k for k in metrics if k != "token attribution (IG)"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    xs = [100 * f for f in FRACTIONS]
    for name in image:
        line, = left.plot(xs, metrics[name]["curve"]["evidence"], marker="o", label=name)
        left.plot(xs, metrics[name]["curve"]["random"], ls="--", color=line.get_color(),
                  label=f"random maps ({name.split()[-1]} grid)")
    left.set_xlabel("% of the product's pixels removed")
    left.set_ylabel("similarity drop")
    left.set_title("image: deletion curves")
    left.legend(fontsize=7)
    tok = metrics["token attribution (IG)"]["curve"]
    right.plot(WORD_COUNTS, tok["evidence"], marker="o", label="top attributed words")
    right.plot(WORD_COUNTS, tok["random"], ls="--", label="random words")
    right.set_xlabel("words removed")
    right.set_title("text: deletion curves")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
