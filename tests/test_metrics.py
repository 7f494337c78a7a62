"""Ranking metrics against hand-computed values, including queries with nothing relevant."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval import hit, mrr, ndcg, precision, recall, recall_at_k, reciprocal_rank, target_ranks

# Query 0: relevant at ranks 1 and 3 (of 4 relevant in the collection).
# Query 1: nothing relevant returned (2 relevant exist).
# Query 2: no relevant item exists at all.
REL = np.array([[1, 0, 1, 0, 0],
                [0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0]])
N_REL = np.array([4, 2, 0])


def test_precision():
    assert precision(REL, 5).tolist() == [0.4, 0.0, 0.0]
    assert precision(REL, 2).tolist() == [0.5, 0.0, 0.0]


def test_recall_and_hit():
    r = recall(REL, N_REL, 5)
    assert r[0] == pytest.approx(0.5) and r[1] == 0 and np.isnan(r[2])
    h = hit(REL, N_REL, 1)
    assert h[0] == 1 and h[1] == 0 and np.isnan(h[2])


def test_ndcg():
    n = ndcg(REL, N_REL, 5)
    dcg = 1 + 1 / np.log2(4)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4) + 1 / np.log2(5)
    assert n[0] == pytest.approx(dcg / ideal) and n[1] == 0 and np.isnan(n[2])
    perfect = ndcg(np.array([[1, 1, 0]]), [2], 3)
    assert perfect[0] == pytest.approx(1.0)


def test_mrr():
    m = mrr(np.array([[0, 0, 1], [1, 0, 0], [0, 0, 0]]), [1, 3, 2])
    assert m.tolist() == pytest.approx([1 / 3, 1.0, 0.0])
    assert np.isnan(mrr(REL, N_REL)[2])
    assert mrr(np.array([[0, 0, 1]]), [1], k=2)[0] == 0


def test_single_target_ranks():
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    ranks = target_ranks(scores, np.array([2, 0]))
    assert ranks.tolist() == [1, 2]
    assert recall_at_k(ranks, 2).tolist() == [1, 0]
    assert reciprocal_rank(ranks).tolist() == pytest.approx([1 / 2, 1 / 3])
