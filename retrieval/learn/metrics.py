"""Ranking metrics, one function each, over per-query arrays (so intervals can be computed).

Two input shapes:
- ``ranks``: the 0-based rank of the single relevant item of each query (``target_ranks``);
- ``relevance``: a (queries x results) 0/1 matrix of the returned results in rank order, with
  ``n_relevant``, the number of relevant items each query has in the whole collection.
A query with no relevant item has precision 0 and recall / NDCG / reciprocal rank NaN (undefined:
average with ``np.nanmean``, which leaves such queries out).
"""
from __future__ import annotations

import numpy as np


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of ``targets[i]`` in row ``i`` of ``scores`` (higher score ranks first; ties
    count against the target)."""
    target_scores = scores[np.arange(len(targets)), targets]
    return (scores >= target_scores[:, None]).sum(1) - 1


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Single relevant item per query: 1 when it is in the top ``k``."""
    return (np.asarray(ranks) < k).astype(float)


def reciprocal_rank(ranks: np.ndarray) -> np.ndarray:
    """Single relevant item per query: 1 / (rank + 1)."""
    return 1.0 / (np.asarray(ranks) + 1.0)


def _undefined_where_none(values: np.ndarray, n_relevant) -> np.ndarray:
    values = values.astype(float)
    values[np.asarray(n_relevant) == 0] = np.nan
    return values


def precision(relevance: np.ndarray, k: int) -> np.ndarray:
    """Share of the top ``k`` results that are relevant (missing results count as not relevant)."""
    rel = np.asarray(relevance, dtype=float)[:, :k]
    return rel.sum(1) / k


def recall(relevance: np.ndarray, n_relevant, k: int) -> np.ndarray:
    """Share of all relevant items that appear in the top ``k``."""
    rel = np.asarray(relevance, dtype=float)[:, :k]
    n = np.asarray(n_relevant, dtype=float)
    return _undefined_where_none(rel.sum(1) / np.maximum(n, 1), n_relevant)


def hit(relevance: np.ndarray, n_relevant, k: int) -> np.ndarray:
    """1 when at least one relevant item is in the top ``k``."""
    rel = np.asarray(relevance, dtype=float)[:, :k]
    return _undefined_where_none((rel.sum(1) > 0).astype(float), n_relevant)


def ndcg(relevance: np.ndarray, n_relevant, k: int) -> np.ndarray:
    """DCG of the top ``k`` (binary gains, log2 discount) over the DCG of an ideal ranking."""
    rel = np.asarray(relevance, dtype=float)[:, :k]
    discounts = 1.0 / np.log2(np.arange(2, rel.shape[1] + 2))
    dcg = rel @ discounts
    ideal_counts = np.minimum(np.asarray(n_relevant), rel.shape[1]).astype(int)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_counts]
    return _undefined_where_none(dcg / np.maximum(ideal, 1e-12), n_relevant)


def mrr(relevance: np.ndarray, n_relevant, k: int | None = None) -> np.ndarray:
    """1 / rank of the first relevant result within the top ``k`` (0 if none is there)."""
    rel = np.asarray(relevance, dtype=bool)
    rel = rel[:, :k] if k else rel
    first = rel.argmax(1)
    values = np.where(rel.any(1), 1.0 / (first + 1.0), 0.0)
    return _undefined_where_none(values, n_relevant)


def ndcg_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Single relevant item per query: 1 / log2(rank + 2) when it is in the top ``k``, else 0."""
    ranks = np.asarray(ranks)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def novelty(recommended: np.ndarray, popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Mean self-information -log2(p) of each query's recommended items, where ``p`` is the share
    of users who interacted with the item in training (add-one smoothed, so unseen items count)."""
    p = (np.asarray(popularity, dtype=float) + 1.0) / (n_users + 1.0)
    return (-np.log2(p))[np.asarray(recommended)].mean(1)


def fill_in_the_blank(choice_scores: np.ndarray) -> np.ndarray:
    """(questions x choices) scores with the right answer in column 0: 1 where it scores above
    every other choice (ties count against it)."""
    s = np.asarray(choice_scores, dtype=float)
    return (s[:, :1] > s[:, 1:]).all(1).astype(float)


def pair_auc(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Per (positive, negative) pair: 1 when the positive scores higher, 0.5 on a tie; the mean
    is the ROC AUC estimated with one negative per positive."""
    p, n = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    return (p > n) + 0.5 * (p == n)


def average_precision_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Single relevant item per query: AP@k = 1 / (rank + 1) within the top ``k``, else 0 (its
    mean is MAP@k, the H&M competition's measure with k = 12)."""
    r = np.asarray(ranks)
    return np.where(r < k, 1.0 / (r + 1.0), 0.0)
