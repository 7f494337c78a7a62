"""Personal picks in two stages, as the H&M competition's winners built them: candidates from
several simple sources, then a ranker trained to put the next purchase first.

Candidates: the products nearest to the recency profile, the products nearest to any one of the
history's products, the products bought on the same day as them by anyone (baskets), and the most
bought products. Features of a (history, product) pair: profile similarity, the best, the last
and the weighted mean similarity to the history's products, the basket co-purchase score,
popularity and the history's length. The ranker (gradient-boosted trees) learns from purchase
histories alone: each customer's last purchase is its target and the earlier ones its history,
so the baskets and popularity it sees at training exclude the targets.

``PickRanker`` is saved beside an index built with ``transactions.csv`` (``skops``, no pickle);
``recommend_picks`` serves it. ``TwoStageRecommender`` is the same model behind the
``fit(matrix)`` / ``scores(users)`` interface of ``retrieval.personal``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from tqdm.auto import tqdm

from ..store.index import Filters, IndexLookupError, ProductIndex, SearchResult
from .personal import DAY_HALF_LIFE, profile, recency_weights

FEATURES = ("profile", "closest", "last", "mean", "basket", "popularity", "history")
SOURCES = {"profile": 300, "closest": 100, "basket": 100, "popularity": 100}   # candidates each
NEGATIVES = 100              # sampled non-purchased candidates per training history

History = tuple[np.ndarray, np.ndarray | None]          # item rows oldest first, their days


def baskets_and_popularity(histories: Sequence[History], n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Same-day co-purchase counts (n x n) and popularity log1p(purchases) / log1p(max)."""
    rows, cols, bought = [], [], np.zeros(n)
    for items, days in histories:
        np.add.at(bought, items, 1)
        if days is None:
            continue
        basket = defaultdict(list)
        for i, d in zip(items, days):
            basket[d].append(i)
        for same_day in basket.values():
            for a, b in combinations(same_day, 2):
                rows += [a, b]
                cols += [b, a]
    counts = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))
    return counts, np.log1p(bought) / max(float(np.log1p(bought.max(initial=0))), 1e-12)


def features(vectors: np.ndarray, history: History, baskets: sp.csr_matrix, popularity: np.ndarray,
             day_half_life: float = DAY_HALF_LIFE) -> dict[str, np.ndarray]:
    """Each feature for every product, for one history."""
    items, days = history
    w = recency_weights(None if days is None else days.tolist(), len(items), day_half_life)
    sims = vectors @ vectors[items].T
    return {"profile": vectors @ profile(vectors[items], w), "closest": sims.max(1),
            "last": sims[:, -1], "mean": sims @ w / w.sum(),
            "basket": np.asarray(baskets[items].T @ w).ravel(), "popularity": popularity,
            "history": np.full(len(vectors), float(len(items)))}


def candidates(feature: dict[str, np.ndarray], seen: np.ndarray,
               allowed: np.ndarray | None = None) -> np.ndarray:
    """Rows offered by each source, without ``seen``; only ``allowed`` rows (a mask) if given."""
    out: set[int] = set()
    for source, n in SOURCES.items():
        s = feature[source].copy()
        s[seen] = -np.inf
        if allowed is not None:
            s[~allowed] = -np.inf
        n = min(n, len(s) - 1)
        top = np.argpartition(-s, n)[:n]
        out.update(top[np.isfinite(s[top])].tolist())
    return np.array(sorted(out - set(seen.tolist())), dtype=np.int64)


@dataclass
class PickRanker:
    """The trained ranker with the purchase statistics it reads: ``ids`` are the products of
    ``popularity`` and ``baskets`` (rows)."""

    FILE: ClassVar[str] = "pick_ranker.skops"
    model: HistGradientBoostingClassifier
    ids: list[str]
    popularity: np.ndarray
    baskets: sp.csr_matrix
    training_histories: int
    _aligned: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def fit(cls, ids: Sequence[str], vectors: np.ndarray, histories: Sequence[History],
            seed: int = 0) -> PickRanker:
        """From purchase ``histories`` (rows of ``ids`` / ``vectors``, oldest first)."""
        rng = np.random.default_rng(seed)
        inner = [(items[:-1], None if days is None else days[:-1]) for items, days in histories]
        baskets, popularity = baskets_and_popularity(inner, len(vectors))
        x, y = [], []
        for (items, days), (everything, _) in zip(tqdm(inner, desc="ranker examples", unit="history"),
                                                 histories):
            if len(items) == 0:
                continue
            f = features(vectors, (items, days), baskets, popularity)
            c = candidates(f, items)
            target = everything[-1]
            if target not in c:
                continue
            negatives = c[c != target]
            negatives = rng.choice(negatives, min(NEGATIVES, len(negatives)), replace=False)
            rows = np.r_[target, negatives]
            x.append(np.stack([f[k][rows] for k in FEATURES], 1))
            y.append(np.r_[1, np.zeros(len(negatives))])
        if not x:
            raise ValueError("no purchase history with a next purchase among the candidates: "
                             "too little purchase data to train the ranker")
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                               random_state=seed)
        model.fit(np.concatenate(x), np.concatenate(y))
        baskets, popularity = baskets_and_popularity(histories, len(vectors))
        return cls(model, list(ids), popularity, baskets, len(x))

    def rank(self, feature: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
        """The probability that each of ``rows`` is bought next."""
        return self.model.predict_proba(np.stack([feature[k][rows] for k in FEATURES], 1))[:, 1]

    def aligned(self, ids: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """Baskets and popularity re-indexed to ``ids`` (products it never saw: 0); the last
        result is kept, since an index's ids rarely change between requests."""
        ids = list(ids)
        if self._aligned is not None and self._aligned[0] == ids:
            return self._aligned[1]
        self._aligned = ids, self._realign(ids)
        return self._aligned[1]

    def _realign(self, ids: list[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        own = {pid: i for i, pid in enumerate(self.ids)}
        to = np.array([own.get(pid, -1) for pid in ids])
        known = np.flatnonzero(to >= 0)
        pick = sp.csr_matrix((np.ones(len(known), np.float32), (known, to[known])),
                             shape=(len(ids), len(self.ids)))
        popularity = np.zeros(len(ids))
        popularity[known] = self.popularity[to[known]]
        return (pick @ self.baskets @ pick.T).tocsr(), popularity

    def save(self, folder: Path) -> None:
        b = self.baskets.tocsr()
        sio.dump({"model": self.model, "ids": np.array(self.ids), "popularity": self.popularity,
                  "indptr": b.indptr, "indices": b.indices, "data": b.data,
                  "training_histories": self.training_histories}, Path(folder) / self.FILE)

    @classmethod
    def load(cls, folder: Path) -> PickRanker:
        path = Path(folder) / cls.FILE
        untrusted = [t for t in sio.get_untrusted_types(file=path)
                     if not t.startswith(("sklearn.", "numpy."))]
        if untrusted:
            raise ValueError(f"{path}: unexpected types {untrusted}")
        d = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        ids = d["ids"].tolist()
        baskets = sp.csr_matrix((d["data"], d["indices"], d["indptr"]), shape=(len(ids), len(ids)))
        return cls(d["model"], ids, d["popularity"], baskets, int(d["training_histories"]))


def recommend_picks(index: ProductIndex, ranker: PickRanker, history: Sequence[str],
                    days: Sequence[float] | None = None, k: int = 10, filters: Filters | None = None,
                    exclude: Sequence[str] = ()) -> list[SearchResult]:
    """The two-stage picks for a history (ids, oldest first); an empty history gets the most
    bought products. Never a product of the history or ``exclude``. Unknown ids raise
    ``IndexLookupError`` naming the id."""
    ids = index.all_ids()
    row = {pid: i for i, pid in enumerate(ids)}
    vectors = index.matrix()
    baskets, popularity = ranker.aligned(ids)
    seen = np.array([row[p] for p in dict.fromkeys([*history, *exclude]) if p in row], dtype=np.int64)
    allowed = None
    keys = index.allowed_keys(filters)
    if keys is not None:
        allowed = np.isin(index.keys, keys)
    for p in history:
        if p not in row:
            raise IndexLookupError(f"unknown product id {p!r}")
    items = np.array([row[p] for p in history], dtype=np.int64)
    if len(items) == 0:
        score = popularity.copy()
        score[seen] = -np.inf
        if allowed is not None:
            score[~allowed] = -np.inf
        top = [i for i in np.argsort(-score, kind="stable")[:k] if np.isfinite(score[i])]
        return index.results(index.keys[top].tolist(), score[top].tolist())
    when = np.asarray(days, dtype=float) if days is not None and len(days) == len(history) else None
    f = features(vectors, (items, when), baskets, popularity)
    c = candidates(f, seen, allowed)
    if len(c) == 0:
        return []
    p = ranker.rank(f, c)
    order = np.argsort(-p, kind="stable")[:k]
    return index.results(index.keys[c[order]].tolist(), p[order].tolist())


class TwoStageRecommender:
    name = "Two-stage: candidates + ranker"

    def __init__(self, vectors: np.ndarray, days: sp.csr_matrix, seed: int = 0):
        """``vectors``: fused item vectors; ``days``: users x items matrix of purchase days."""
        self.vectors, self.days, self.seed = vectors, days.tocsr(), seed

    def fit(self, matrix: sp.csr_matrix) -> TwoStageRecommender:
        matrix = matrix.tocsr()
        self.histories = []
        for u in range(matrix.shape[0]):
            items = matrix[u].indices
            d = np.asarray(self.days[u, items].todense()).ravel() if len(items) else np.zeros(0)
            order = np.lexsort((items, d))
            self.histories.append((items[order], d[order]))
        self.ranker = PickRanker.fit([str(i) for i in range(len(self.vectors))], self.vectors,
                                     self.histories, self.seed)
        self.training_users = self.ranker.training_histories
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Candidates get the ranker's probability (in [0, 1]); every other product its profile
        similarity minus 10 (below them, in profile order); no history: popularity."""
        r = self.ranker
        out = np.zeros((len(users), len(self.vectors)), dtype=np.float32)
        for row, u in enumerate(users):
            items, d = self.histories[u]
            if len(items) == 0:
                out[row] = r.popularity - 10.0
                continue
            f = features(self.vectors, (items, d), r.baskets, r.popularity)
            c = candidates(f, items)
            out[row] = f["profile"] - 10.0
            out[row, c] = r.rank(f, c)
        return out
