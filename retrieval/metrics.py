"""Ranking metrics over per-query arrays (so confidence intervals can be computed)."""
from __future__ import annotations

import numpy as np


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of ``targets[i]`` in row ``i`` of ``scores`` (higher score ranks first; ties
    count against the target)."""
    target_scores = scores[np.arange(len(targets)), targets]
    return (scores >= target_scores[:, None]).sum(1) - 1


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per query: 1 when the single relevant item is in the top ``k``."""
    return (np.asarray(ranks) < k).astype(float)


def reciprocal_rank(ranks: np.ndarray) -> np.ndarray:
    """Per query: 1 / (rank + 1) of the single relevant item."""
    return 1.0 / (np.asarray(ranks) + 1.0)


def precision_at_k(relevant: np.ndarray, k: int) -> np.ndarray:
    """Per query: share of the top ``k`` results that are relevant (``relevant`` is a 0/1 matrix
    of results in rank order)."""
    return np.asarray(relevant)[:, :k].mean(1)
