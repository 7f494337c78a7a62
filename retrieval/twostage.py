"""Personal picks in two stages, as the H&M competition's winners built them: candidates from
several simple sources, then a ranker trained to put the next purchase first.

Candidates: the products nearest to the recency profile, the products nearest to any one of the
user's products, the products bought on the same day as the user's products by anyone (baskets),
and the most bought products. Features of a (user, product) pair: profile similarity, the best,
the last and the weighted mean similarity to the user's products, the basket co-purchase score,
popularity (all and recent) and the history's length. The ranker (gradient-boosted trees) is
trained on the training events themselves: each user's last training purchase is its target,
the earlier ones its history, so nothing of the test period is seen.
"""
from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier
from tqdm.auto import tqdm

from .personal import DAY_HALF_LIFE, profile, recency_weights

FEATURES = ("profile", "closest", "last", "mean", "basket", "popularity", "recent", "history")
SOURCES = {"profile": 300, "closest": 100, "basket": 100, "popularity": 100}   # candidates each
RECENT_DAYS = 60
NEGATIVES = 100              # sampled non-purchased candidates per training user


def _histories(matrix: sp.csr_matrix, days: sp.csr_matrix) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per user: (items, days) oldest first."""
    out = []
    for u in range(matrix.shape[0]):
        items = matrix[u].indices
        d = np.asarray(days[u, items].todense()).ravel() if len(items) else np.zeros(0)
        order = np.lexsort((items, d))
        out.append((items[order], d[order]))
    return out


class TwoStageRecommender:
    name = "Two-stage: candidates + ranker"

    def __init__(self, vectors: np.ndarray, days: sp.csr_matrix, seed: int = 0,
                 day_half_life: float = DAY_HALF_LIFE):
        """``vectors``: fused item vectors; ``days``: users x items matrix of purchase days."""
        self.vectors, self.days, self.seed, self.day_half_life = vectors, days.tocsr(), seed, day_half_life

    def _stats(self, histories) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Same-day co-purchase counts, log popularity and log recent popularity."""
        n = len(self.vectors)
        rows, cols, bought, recent = [], [], np.zeros(n), np.zeros(n)
        last = max((d.max() for _, d in histories if len(d)), default=0.0)
        for items, d in histories:
            np.add.at(bought, items, 1)
            np.add.at(recent, items[d > last - RECENT_DAYS], 1)
            baskets = defaultdict(list)
            for i, day in zip(items, d):
                baskets[day].append(i)
            for basket in baskets.values():
                for a, b in combinations(basket, 2):
                    rows += [a, b]
                    cols += [b, a]
        baskets = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))
        return baskets, np.log1p(bought), np.log1p(recent)

    def _features(self, items: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
        w = recency_weights(d, len(items), self.day_half_life)
        sims = self.vectors @ self.vectors[items].T
        return {"profile": self.vectors @ profile(self.vectors[items], w), "closest": sims.max(1),
                "last": sims[:, -1], "mean": sims @ w / w.sum(),
                "basket": np.asarray(self.baskets[items].T @ w).ravel(),
                "popularity": self.popularity, "recent": self.recent,
                "history": np.full(len(self.vectors), float(len(items)))}

    @staticmethod
    def _candidates(features: dict[str, np.ndarray], seen: np.ndarray) -> np.ndarray:
        out: set[int] = set()
        for source, n in SOURCES.items():
            s = features[source].copy()
            s[seen] = -np.inf
            out.update(np.argpartition(-s, n)[:n].tolist())
        return np.array(sorted(out - set(seen.tolist())), dtype=np.int64)

    def fit(self, matrix: sp.csr_matrix) -> TwoStageRecommender:
        self.matrix = matrix.tocsr()
        histories = _histories(self.matrix, self.days)
        inner = [(i[:-1], d[:-1]) for i, d in histories]      # each user's last purchase held out
        self.baskets, self.popularity, self.recent = self._stats(inner)
        rng = np.random.default_rng(self.seed)
        x, y = [], []
        for (items, d), (all_items, _) in tqdm(list(zip(inner, histories)), desc="ranker examples",
                                               unit="user"):
            if len(items) == 0:
                continue
            target = all_items[-1]
            f = self._features(items, d)
            c = self._candidates(f, items)
            if target not in c:
                continue
            negatives = c[c != target]
            negatives = rng.choice(negatives, min(NEGATIVES, len(negatives)), replace=False)
            rows = np.r_[target, negatives]
            x.append(np.stack([f[k][rows] for k in FEATURES], 1))
            y.append(np.r_[1, np.zeros(len(negatives))])
        self.ranker = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05,
                                                     max_leaf_nodes=15, random_state=self.seed)
        self.ranker.fit(np.concatenate(x), np.concatenate(y))
        self.training_users = len(x)
        self.baskets, self.popularity, self.recent = self._stats(histories)
        self.histories = histories
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Candidates get the ranker's probability (in [0, 1]); every other product its profile
        similarity minus 10, so it ranks below them, in profile order."""
        out = np.zeros((len(users), len(self.vectors)), dtype=np.float32)
        for row, u in enumerate(users):
            items, d = self.histories[u]
            if len(items) == 0:
                out[row] = self.popularity - 10.0
                continue
            f = self._features(items, d)
            c = self._candidates(f, items)
            out[row] = f["profile"] - 10.0
            out[row, c] = self.ranker.predict_proba(np.stack([f[k][c] for k in FEATURES], 1))[:, 1]
        return out
