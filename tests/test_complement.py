"""Complete the look: outfit rules, learned category complementarity, and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from retrieval import (
    Complementarity,
    CoPurchases,
    LookWeights,
    PairModel,
    Product,
    ProductIndex,
    complete_the_look,
    rule_score,
    slot,
)


def item(kind, sub, cat="Apparel", gender="Men", usage="Casual", season="Summer", pid="x"):
    return Product(id=pid, article_type=kind, subcategory=sub, category=cat, gender=gender,
                   usage=usage, season=season)


SHIRT = item("Shirts", "Topwear")


@pytest.mark.parametrize("other, compatible", [
    (item("Trousers", "Bottomwear"), True),
    (item("Casual Shoes", "Shoes", "Footwear"), True),
    (item("Belts", "Belts", "Accessories"), True),
    (item("Watches", "Watches", "Accessories", gender="Unisex"), True),
    (item("Shirts", "Topwear"), False),                       # no second shirt
    (item("Tshirts", "Topwear"), False),                      # nor another top
    (item("Dresses", "Dress", gender="Men"), False),          # a dress takes the top's place
    (item("Trousers", "Bottomwear", gender="Women"), False),
    (item("Trousers", "Bottomwear", gender="Boys"), False),
    (item("Jeans", "Bottomwear", season="Winter"), False),
    (item("Track Pants", "Bottomwear", usage="Formal"), False),
    (item("Briefs", "Innerwear"), False),
    (item("Deodorant", "Fragrance", "Personal Care"), False),
])
def test_outfit_rules(other, compatible):
    assert (rule_score(SHIRT, other) > 0) is compatible


def test_slots_follow_the_category_tree():
    assert slot(SHIRT) == "top"
    assert slot(item("Sarees", "Saree")) == "full"
    assert slot(item("Sandals", "Sandal", "Footwear")) == "feet"
    assert slot(item("Wallets", "Wallets", "Accessories")) == "accessory:wallets"
    assert slot(item("Bra", "Innerwear")) is None


def test_learned_complementarity_overrides_rules_only_where_data_exists():
    category = {"s1": "Shirts", "s2": "Shirts", "t1": "Trousers", "b1": "Belts", "h1": "Hats"}
    pairs = [("s1", "t1")] * 30 + [("s2", "b1")] * 10
    comp = Complementarity.learn(pairs, category, min_support=20)
    shirt, trousers, belt = item("Shirts", "Topwear"), item("Trousers", "Bottomwear"), \
        item("Belts", "Belts", "Accessories")
    assert comp.knows("Shirts") and comp.source(shirt) == "learned"
    assert comp.score(shirt, trousers) == 1.0 > comp.score(shirt, belt) > 0
    hat = item("Hats", "Headwear", "Accessories")
    assert not comp.knows("Hats")                                  # no co-purchase of hats seen
    assert comp.score(hat, shirt) == rule_score(hat, shirt)
    assert Complementarity(**json.loads(comp.to_json())).table == comp.table


def test_complete_the_look_returns_other_compatible_categories(shop_index):
    index = ProductIndex.load(shop_index)
    anchor = next(index.product(pid) for pid in index.all_ids()
                  if index.product(pid).article_type == "Tshirts"
                  and index.product(pid).gender == "Women")
    weights = LookWeights(style=0.3, complementarity=0.7)
    look = complete_the_look(index, anchor, index.vector(anchor.id), Complementarity(), k=6,
                             weights=weights, per_category=2)
    assert look.source == "rules" and len(look.items) == 6
    kinds = Counter(i.result.product.article_type for i in look.items)
    assert max(kinds.values()) <= 2 and len(kinds) >= 3
    for i in look.items:
        p = i.result.product
        assert slot(p) not in ("top", "full", None), p
        assert p.gender in ("Women", "Unisex")
        assert i.score == pytest.approx(0.3 * i.style + 0.7 * i.complementarity)
        assert i.copurchase == i.pair == 0          # no purchase data given
    assert [i.score for i in look.items] == sorted((i.score for i in look.items), reverse=True)


@pytest.mark.slow
def test_cli_complete(shop_index):
    index = ProductIndex.load(shop_index)
    pid = index.all_ids()[0]
    done = subprocess.run([sys.executable, "-m", "retrieval", "complete", "--index", str(shop_index),
                           "--item", pid, "--k", "5", "--style", "1", "--complementarity", "0",
                           "--popularity", "0", "--copurchase", "0", "--pair", "0", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["anchor"]["id"] == pid
    assert out["weights"] == {"style": 1.0, "complementarity": 0.0, "popularity": 0.0,
                              "copurchase": 0.0, "pair": 0.0}
    assert out["complementarity_from"] == "learned" and 0 < len(out["items"]) <= 5
    assert all(r["score"] == pytest.approx(r["style"]) for r in out["items"])
    bad = subprocess.run([sys.executable, "-m", "retrieval", "complete", "--index", str(shop_index),
                          "--item", "no-such-id"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no-such-id" in bad.stderr


def test_a_product_never_bought_inherits_the_copurchases_of_its_lookalikes():
    graph = CoPurchases.from_pairs([("shirt1", "belt1"), ("shirt1", "belt1"), ("shirt2", "shoe1"),
                                    ("dress", "bag")])
    assert graph.popularity_of(["shirt1", "new"])[1] == 0 < graph.popularity_of(["shirt1"])[0]
    # a new shirt: most like shirt1, a little like shirt2, not like the dress
    spread = graph.spread(["new", "shirt1", "shirt2", "dress"], [1.0, 0.9, 0.5, -0.2])
    assert set(spread) == {"belt1", "shoe1"}                 # the look-alikes' partners
    assert spread["belt1"] == 1.0 > spread["shoe1"] > 0
    assert CoPurchases.from_pairs([]).spread(["x"], [1.0]) == {}


@pytest.mark.slow
def test_complete_the_look_ranks_by_copurchases_and_the_pair_model(shop_index):
    from retrieval import Searcher

    searcher = Searcher(shop_index)
    assert searcher.copurchases is not None and searcher.pair_model is not None
    graph, index = searcher.copurchases, searcher.index
    # an anchor with a partner of another type in the slice
    anchor = next(a for a in graph.ids if a in index and any(
        b in index and index.product(b).article_type != index.product(a).article_type
        for b in graph.ids if graph.counts[graph.row[a], graph.row[b]]))
    weights = LookWeights(0.2, 0.1, 0.1, 0.5, 0.1)
    look = searcher.complete(item=anchor, k=10, weights=weights, per_category=None)
    assert look.items and anchor not in {i.result.id for i in look.items}
    assert any(i.copurchase > 0 for i in look.items) and any(i.pair != 0 for i in look.items)
    for i in look.items:
        assert i.result.product.article_type != index.product(anchor).article_type
        assert i.score == pytest.approx(0.2 * i.style + 0.1 * i.complementarity + 0.1 * i.popularity
                                        + 0.5 * i.copurchase + 0.1 * i.pair, abs=1e-5)
    # the saved pair model scores as the one trained: reload it and compare
    again = PairModel.load(index.generation)
    items = [i.result for i in look.items]
    vectors = np.stack([index.vector(r.id) for r in items])
    kinds = [r.product.article_type for r in items]
    a = index.product(anchor)
    assert np.allclose(again.score(index.vector(anchor), a.article_type, vectors, kinds, [r.id for r in items]),
                       [i.pair for i in look.items], atol=1e-5)


@pytest.mark.slow
def test_a_requested_slot_or_category_keeps_only_those_kinds(shop_index):
    from retrieval import Searcher

    searcher = Searcher(shop_index)
    index = searcher.index
    anchor = next(pid for pid in index.all_ids() if slot(index.product(pid)) == "top")
    look = searcher.complete(item=anchor, k=6, category="bottom")
    assert look.items and all(slot(i.result.product) == "bottom" for i in look.items)
    kind = look.items[0].result.product.article_type
    look = searcher.complete(item=anchor, k=6, category=kind)
    assert look.items and all(i.result.product.article_type == kind for i in look.items)


@pytest.mark.slow
def test_the_evidence_says_when_a_look_item_was_bought_with_lookalikes(shop_index):
    from explain.evidence import complement_reason
    from retrieval import Searcher

    searcher = Searcher(shop_index)
    index = searcher.index
    anchor = next(pid for pid in searcher.copurchases.ids if pid in index)
    look = searcher.complete(item=anchor, k=10, per_category=None)
    for item in look.items:
        reason = complement_reason(item, index.product(anchor), look.source)
        assert reason["copurchase"] == item.copurchase and reason["pair"] == item.pair
        assert ("bought it with products that look like" in reason["reason"]) == (item.copurchase > 0)
    assert any(i.copurchase > 0 for i in look.items)
