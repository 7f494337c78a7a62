"""Charts for analysts: the catalogue's clusters on a 2-D map, deletion curves (the benchmark's
and one match's), and catalogue views (colour frequency per season, article types by gender)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from agent.calls import Card
from explain.evidence import Explainer, Query
from explain.faithfulness import image_deletions
from retrieval import Searcher, open_rgb

plt.rcParams["text.parse_math"] = False        # catalogue text in labels is text, not TeX
MAP_POINTS = 5000


def cluster_map(searcher: Searcher, seed: int = 0) -> Figure:
    """Up to ``MAP_POINTS`` products on the first two principal components of their fused
    vectors, coloured by cluster, the largest clusters named."""
    from sklearn.decomposition import PCA

    index = searcher.index
    matrix = index.matrix()
    rows = np.random.default_rng(seed).permutation(len(matrix))[:MAP_POINTS]
    labels = searcher.clusters.assign(matrix[rows])
    xy = PCA(n_components=2, random_state=seed).fit_transform(matrix[rows])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab20", s=4, alpha=0.7)
    for label, _ in Counter(labels.tolist()).most_common(8):
        cx, cy = np.median(xy[labels == label], axis=0)
        ax.annotate(searcher.clusters.name(label), (cx, cy), fontsize=7, ha="center",
                    bbox={"boxstyle": "round", "fc": "white", "alpha": 0.7, "lw": 0})
    ax.set_title(f"{len(searcher.clusters.centroids)} clusters, {len(rows)} products (PCA)")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def deletion_curves(results_dir: Path | None) -> Figure:
    """The ``faithfulness`` benchmark's mean deletion curves, read from its ``metrics.json``."""
    fig, ax = plt.subplots(figsize=(6, 4))
    path = Path(results_dir) / "metrics.json" if results_dir else None
    if path is None or not path.is_file():
        ax.text(0.5, 0.5, "no faithfulness benchmark found\n(python -m eval --suite faithfulness)",
                ha="center", va="center")
        ax.axis("off")
        return fig
    suite = json.loads(path.read_text())["faithfulness"]
    fractions = suite["config"]["image fractions"]
    for name, m in suite["metrics"].items():
        if name.endswith(", blur"):               # image heat-maps, blurred deletion
            curve = m["curve"]
            line, = ax.plot(fractions, curve["evidence"], marker="o", label=name[:-len(", blur")])
            ax.plot(fractions, curve["random"], ls=":", color=line.get_color())
    ax.set_xlabel("share of the product's pixels removed")
    ax.set_ylabel("similarity lost (solid: evidence, dotted: random)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def match_deletions(explainer: Explainer, query: Query, card: Card) -> Figure:
    """One match: the similarity as its top heat-map regions are blurred away vs random ones."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if not card.image or not (card.evidence.get("heatmap") or {}):
        ax.text(0.5, 0.5, "no photo", ha="center", va="center")
        ax.axis("off")
        return fig
    photo = open_rgb(card.image)[0]
    q = explainer.query_vector(query)
    cam = explainer.cam(photo, q).cam
    deletions = image_deletions(explainer.searcher.encoder, photo, cam, q, mode="blur")
    x = [d.amount for d in deletions]
    ax.plot(x, [d.comprehensiveness for d in deletions], marker="o", label="heat-map regions")
    ax.plot(x, [d.random_drop for d in deletions], marker="o", ls=":", label="random regions")
    ax.set_xlabel("share of pixels blurred")
    ax.set_ylabel("similarity lost")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def colour_by_season(searcher: Searcher, top: int = 12) -> Figure:
    """How often each of the ``top`` colours occurs in each season (share of the season)."""
    rows = [(s, c, n) for s, c, n in searcher.index.facet_counts("season", "colour")
            if s is not None and c is not None]
    seasons = sorted({r[0] for r in rows})
    totals = Counter()
    for _, c, n in rows:
        totals[c] += n
    colours = [c for c, _ in totals.most_common(top)]
    grid = np.zeros((len(colours), len(seasons)))
    for s, c, n in rows:
        if c in colours:
            grid[colours.index(c), seasons.index(s)] = n
    grid /= np.maximum(grid.sum(axis=0, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    im = ax.imshow(grid, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(seasons)), seasons)
    ax.set_yticks(range(len(colours)), colours)
    fig.colorbar(im, ax=ax, label="share of the season's products")
    fig.tight_layout()
    return fig


def type_by_gender(searcher: Searcher, top: int = 12) -> Figure:
    """Product counts of the ``top`` article types, stacked by gender."""
    rows = [(t, g, n) for t, g, n in searcher.index.facet_counts("article_type", "gender")
            if t is not None]
    totals = Counter()
    for t, _, n in rows:
        totals[t] += n
    types = [t for t, _ in totals.most_common(top)][::-1]
    genders = sorted({g or "unknown" for _, g, _ in rows})
    fig, ax = plt.subplots(figsize=(5, 4.5))
    left = np.zeros(len(types))
    for g in genders:
        counts = np.array([sum(n for t2, g2, n in rows if t2 == t and (g2 or "unknown") == g)
                           for t in types])
        ax.barh(types, counts, left=left, label=g)
        left += counts
    ax.set_xlabel("products")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def ratings_summary(summary: dict[str, dict]) -> Figure:
    """Per explanation source: analysts' mean clarity and trust (1-5) and flagged share, and the
    share of shoppers' thumbs that were up (``RatingStore.summary``)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.2))
    if not summary:
        for ax in (left, right):
            ax.axis("off")
        left.text(0.5, 0.5, "no ratings or feedback yet", ha="center", va="center")
        return fig
    sources = sorted(summary)
    x = np.arange(len(sources))
    for i, name in enumerate(("clarity", "trust")):
        values = [summary[s].get(name, 0) for s in sources]
        left.bar(x + (i - 0.5) * 0.35, values, 0.35, label=name)
    left.set_xticks(x, [f"{s}\n({summary[s].get('ratings', 0)} rated)" for s in sources])
    left.set_ylim(0, 5)
    left.set_title("analysts' ratings (mean)")
    left.legend(fontsize=7)
    flagged = [summary[s].get("flagged_share", 0) for s in sources]
    up = [summary[s].get("thumbs_up", 0) / max(summary[s].get("thumbs_up", 0) +
                                               summary[s].get("thumbs_down", 0), 1) for s in sources]
    right.bar(x - 0.175, flagged, 0.35, label="flagged (analysts)", color="tab:red")
    right.bar(x + 0.175, up, 0.35, label="thumbs up (shoppers)", color="tab:green")
    votes = [summary[s].get("thumbs_up", 0) + summary[s].get("thumbs_down", 0) for s in sources]
    right.set_xticks(x, [f"{s}\n({v} thumbs)" for s, v in zip(sources, votes)])
    right.set_ylim(0, 1)
    right.set_title("shares")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig
