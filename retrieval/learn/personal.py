"""Personalisation from a browsing history: a recency-weighted profile in the fused space, and
the classical recommenders it is measured against (Random, MostPopular, ItemKNN, UserKNN).

Every recommender here has ``fit(matrix)`` on a users x items 0/1 matrix of training interactions
(``scipy.sparse``) and ``scores(users)``: a dense (len(users) x items) score array.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..store.index import Filters, ProductIndex, SearchResult
from ..store.vectors import unit

DAY_HALF_LIFE = 30.0       # with timestamps: an item viewed 30 days before the last one counts half
EVENT_HALF_LIFE = 5.0      # without: an item 5 events back counts half


def recency_weights(days: Sequence[float] | None, n: int, day_half_life: float = DAY_HALF_LIFE,
                    event_half_life: float = EVENT_HALF_LIFE) -> np.ndarray:
    """Weights of a history of ``n`` events, oldest first, from their days if given (else their
    positions), halving every ``day_half_life`` days (or ``event_half_life`` events)."""
    if days is not None and len(days) == n and all(d is not None for d in days):
        age = float(max(days)) - np.asarray(days, dtype=float)
        return 0.5 ** (age / day_half_life)
    return 0.5 ** ((n - 1 - np.arange(n)) / event_half_life)


def profile(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The unit-length weighted mean of a history's fused vectors."""
    return unit((np.asarray(weights, dtype=np.float32)[:, None] * vectors).sum(0))


def recommend(index: ProductIndex, history: Sequence[str], days: Sequence[float] | None = None,
              k: int = 10, filters: Filters | None = None, exclude: Sequence[str] = (),
              day_half_life: float = DAY_HALF_LIFE) -> list[SearchResult]:
    """Products for someone who viewed or bought ``history`` (product ids, oldest first), nearest
    to the recency-weighted profile; products already in the history (or in ``exclude``) are
    left out. Unknown ids raise ``IndexLookupError`` naming the id."""
    if not history:
        raise ValueError("empty history: at least one product id is needed")
    vectors = np.stack([index.vector(pid) for pid in history])
    v = profile(vectors, recency_weights(days, len(history), day_half_life))
    return index.search(v, k, filters, exclude=list(dict.fromkeys([*history, *exclude])))


def interaction_matrix(users: Sequence[int], items: Sequence[int], n_users: int,
                       n_items: int) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(n_users, n_items))
    m.data[:] = 1.0                      # repeats count once
    return m


@dataclass
class RandomScores:
    seed: int = 0
    name: str = "Random"

    def fit(self, matrix: sp.csr_matrix) -> RandomScores:
        self.n_items = matrix.shape[1]
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return np.random.default_rng(self.seed).random((len(users), self.n_items), dtype=np.float32)


class MostPopular:
    name = "MostPopular"

    def fit(self, matrix: sp.csr_matrix) -> MostPopular:
        self.popularity = np.asarray(matrix.sum(0), dtype=np.float32).ravel()
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(users), len(self.popularity))).copy()


def _cosine_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(1)).ravel())
    return sp.diags(1.0 / np.maximum(norms, 1e-12)) @ m


def _keep_top(sim: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row of a similarity matrix with only its ``k`` largest entries."""
    sim = sim.tocsr()
    rows, cols, vals = [], [], []
    for r in range(sim.shape[0]):
        start, end = sim.indptr[r], sim.indptr[r + 1]
        if end == start:
            continue
        data, idx = sim.data[start:end], sim.indices[start:end]
        top = np.argsort(-data)[:k]
        rows.extend([r] * len(top))
        cols.extend(idx[top])
        vals.extend(data[top])
    return sp.csr_matrix((vals, (rows, cols)), shape=sim.shape)


class ItemKNN:
    """Items scored by their cosine similarity (over co-interacting users) to the user's items."""

    name = "ItemKNN"

    def __init__(self, neighbours: int = 100):
        self.neighbours = neighbours

    def fit(self, matrix: sp.csr_matrix) -> ItemKNN:
        self.matrix = matrix
        items = _cosine_rows(matrix.T.tocsr())
        sim = (items @ items.T).tocsr()
        sim.setdiag(0)
        sim.eliminate_zeros()
        self.sim = _keep_top(sim, self.neighbours)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self.matrix[users] @ self.sim).todense(), dtype=np.float32)


class UserKNN:
    """Items scored by how many of the user's most similar users (cosine) interacted with them."""

    name = "UserKNN"

    def __init__(self, neighbours: int = 50):
        self.neighbours = neighbours

    def fit(self, matrix: sp.csr_matrix) -> UserKNN:
        self.matrix = matrix
        self.normed = _cosine_rows(matrix)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        sim = (self.normed[users] @ self.normed.T).tocsr()
        sim[np.arange(len(users)), users] = 0
        sim.eliminate_zeros()
        sim = _keep_top(sim, self.neighbours)
        return np.asarray((sim @ self.matrix).todense(), dtype=np.float32)


class ProfileScores:
    """The recency-weighted fused-space profile (``recommend``) over a fixed item matrix."""

    name = "Recency profile"

    def __init__(self, vectors: np.ndarray, days: sp.csr_matrix | None = None,
                 day_half_life: float = DAY_HALF_LIFE):
        """``vectors``: fused item vectors; ``days``: users x items matrix of event days."""
        self.vectors = vectors
        self.days = days
        self.day_half_life = day_half_life

    def fit(self, matrix: sp.csr_matrix) -> ProfileScores:
        self.matrix = matrix
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        out = np.zeros((len(users), len(self.vectors)), dtype=np.float32)
        for i, u in enumerate(users):
            items = self.matrix[u].indices
            if len(items) == 0:
                continue
            days = None if self.days is None else np.asarray(self.days[u, items].todense()).ravel()
            w = recency_weights(days, len(items), self.day_half_life)
            out[i] = self.vectors @ profile(self.vectors[items], w)
        return out
