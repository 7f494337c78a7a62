"""Personalisation: recency-weighted profiles, the classical baselines, the multimodal model."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from eval.models.pixelrec import ItemContent, MultimodalRecommender
from retrieval import ItemKNN, MostPopular, ProductIndex, UserKNN, interaction_matrix, recency_weights, recommend


def test_recency_weights_halve_with_age():
    w = recency_weights([0, 30, 60], 3, day_half_life=30)
    assert w == pytest.approx([0.25, 0.5, 1.0])
    assert recency_weights(None, 2, event_half_life=1) == pytest.approx([0.5, 1.0])


def test_recent_views_weigh_more(shop_index):
    index = ProductIndex.load(shop_index)
    ids = index.all_ids()
    kinds = {pid: index.product(pid).article_type for pid in ids}
    shoe = next(p for p in ids if kinds[p] == "Casual Shoes")
    bag = next(p for p in ids if kinds[p] == "Handbags")
    shoe_last = recommend(index, [bag, shoe], days=[0, 90], k=5)
    bag_last = recommend(index, [shoe, bag], days=[0, 90], k=5)
    assert {r.id for r in shoe_last}.isdisjoint({shoe, bag})
    share = lambda rs, kind: sum(r.product.article_type == kind for r in rs)
    assert share(shoe_last, "Casual Shoes") > share(bag_last, "Casual Shoes")
    assert share(bag_last, "Handbags") > share(shoe_last, "Handbags")


@pytest.mark.slow
def test_cli_recommend_reports_unknown_ids(shop_index):
    ids = ProductIndex.load(shop_index).all_ids()
    ok = subprocess.run([sys.executable, "-m", "retrieval", "recommend", "--index", str(shop_index),
                         "--history", ids[0], ids[1], "--k", "4", "--json"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    got = [r["id"] for r in json.loads(ok.stdout)["results"]]
    assert len(got) == 4 and not {ids[0], ids[1]} & set(got)
    bad = subprocess.run([sys.executable, "-m", "retrieval", "recommend", "--index", str(shop_index),
                          "--history", ids[0], "nope-42"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "nope-42" in bad.stderr


# users 0-2 buy items 0-2 together, users 3-4 buy items 3-4; item 5 is bought by everyone
PURCHASES = [(0, 0), (0, 1), (0, 5), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2), (2, 5),
             (3, 3), (3, 4), (3, 5), (4, 3), (4, 5), (1, 5)]


def toy_matrix():
    users, items = zip(*PURCHASES)
    return interaction_matrix(users, items, 5, 7)


def test_most_popular_ranks_by_training_count():
    scores = MostPopular().fit(toy_matrix()).scores(np.array([0]))
    assert int(np.argmax(scores[0])) == 5 and scores[0, 6] == 0


def test_item_and_user_knn_follow_co_purchases():
    m = toy_matrix()
    for method in (ItemKNN(), UserKNN(neighbours=2)):
        scores = method.fit(m).scores(np.array([0, 4]))
        assert scores[0, 2] > scores[0, 3] and scores[0, 2] > scores[0, 4]   # user 0 -> item 2
        assert scores[1, 4] > scores[1, 2]                                   # user 4 -> item 4


def test_multimodal_model_learns_taste_from_content(features, catalog, encoder):
    """Two groups of users buy two article types; held-out items of a user's type must outrank
    the other type, including items that have only a photo and were never bought."""
    types = np.array([p.article_type for p in catalog.products])
    a, b = np.flatnonzero(types == "Tshirts"), np.flatnonzero(types == "Sports Shoes")
    rng = np.random.default_rng(0)
    train_a, test_a = a[:80], a[80:]
    train_b, test_b = b[:25], b[25:]
    purchases = [(u, int(i)) for u in range(20) for i in rng.choice(train_a, 6, replace=False)]
    purchases += [(u, int(i)) for u in range(20, 40) for i in rng.choice(train_b, 6, replace=False)]
    users, items = zip(*purchases)
    matrix = interaction_matrix(users, items, 40, len(types))
    has_text = features.has_text.copy()
    has_text[test_a[:5]] = False                     # photo only
    content = ItemContent(encoder.pooled(features.image), features.text, np.zeros(len(types), int),
                          features.has_image, has_text)
    model = MultimodalRecommender(content, n_categories=0, dim=32, epochs=30, seed=0).fit(matrix)
    assert model.losses[-1] < model.losses[0]
    scores = model.scores(np.array([0, 30]))        # a T-shirt fan and a shoe fan
    assert scores[0, test_a].mean() > scores[0, test_b].mean()
    assert scores[1, test_b].mean() > scores[1, test_a].mean()
    assert scores[0, test_a[:5]].mean() > scores[0, test_b].mean()     # photo-only T-shirts too
    with torch.no_grad():
        w = model.items.attention_weights(torch.from_numpy(test_a[:5]))
    assert torch.all(w[:, 2] == 0) and torch.allclose(w.sum(1), torch.ones(5))


def test_model_history_is_recency_weighted(shop_features, shop_catalog, standin):
    import scipy.sparse as sp

    m = toy_matrix()
    days = sp.csr_matrix((np.array([10, 20, 40], np.float32), ([0, 0, 0], [0, 1, 5])), shape=m.shape)
    content = ItemContent(standin.pooled(shop_features.image[:7]), shop_features.text[:7], np.zeros(7, int),
                          shop_features.has_image[:7], shop_features.has_text[:7])
    model = MultimodalRecommender(content, 0, days=days, day_half_life=20)
    w = model._history_weights(m).toarray()
    expected = np.array([0.5 ** 1.5, 0.5, 1.0])                   # 30, 20 and 0 days old
    assert w[0, [0, 1, 5]] == pytest.approx(expected / expected.sum())
    assert w[3, [3, 4, 5]] == pytest.approx([1 / 3] * 3)          # no days: a plain mean


@pytest.mark.slow
def test_cli_recommend_reads_dates(shop_index):
    ids = ProductIndex.load(shop_index).all_ids()
    run = lambda *extra: subprocess.run(
        [sys.executable, "-m", "retrieval", "recommend", "--index", str(shop_index), "--history",
         ids[0], ids[1], "--json", *extra], capture_output=True, text=True, timeout=300)
    dated = run("--when", "2026-01-01", "2026-03-02T00:00")
    assert dated.returncode == 0, dated.stderr
    as_days = run("--when", "0", "60")
    assert json.loads(dated.stdout) == json.loads(as_days.stdout)
    bad = run("--when", "yesterday", "today")
    assert bad.returncode == 2 and "'yesterday'" in bad.stderr


@pytest.mark.slow
def test_two_stage_picks_from_an_index_built_with_purchases(hm_index):
    """The ranker trained at build time is saved beside the index and serves the history's picks:
    never a product of the history, only products that pass the filters, and for an empty
    history (a new shopper) the most bought products."""
    from retrieval import Filters, PickRanker, QueryError, Searcher

    searcher = Searcher(hm_index)
    ranker = searcher.pick_ranker
    assert isinstance(ranker, PickRanker) and ranker.training_histories > 20
    index = searcher.index
    ids = index.all_ids()
    row = {pid: i for i, pid in enumerate(ids)}
    baskets, popularity = ranker.aligned(ids)
    bought = [pid for pid in ids if popularity[row[pid]] > 0]
    history = bought[:3]
    picks = searcher.for_history(history, days=[0, 10, 20], k=8)
    assert len(picks) == 8 and {p.id for p in picks}.isdisjoint(history)
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)
    kind = index.product(history[-1]).article_type
    narrowed = searcher.for_history(history, k=5, filters=Filters(article_type=kind))
    assert narrowed and all(p.product.article_type == kind for p in narrowed)
    newcomer = searcher.for_history([], k=5)
    assert [p.id for p in newcomer] == [ids[i] for i in np.argsort(-popularity, kind="stable")[:5]]
    with pytest.raises(QueryError, match="no-such-id"):
        searcher.for_history(["no-such-id"])
    again = PickRanker.load(index.generation)                  # saved without pickle, same model
    f = np.random.default_rng(0).random((4, 7))
    assert np.allclose(again.model.predict_proba(f), ranker.model.predict_proba(f))
