"""Complete the look: outfit rules, learned category complementarity, and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from retrieval.complement import Complementarity, LookWeights, complete_the_look, rule_score, slot
from retrieval.index import ProductIndex
from retrieval.products import Product


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


def test_complete_the_look_returns_other_compatible_categories(index_dir):
    index = ProductIndex.load(index_dir)
    anchor = next(index.product(pid) for pid in index.all_ids()
                  if index.product(pid).article_type == "Tshirts"
                  and index.product(pid).gender == "Men")
    weights = LookWeights(style=0.3, complementarity=0.7)
    look = complete_the_look(index, anchor, index.vector(anchor.id), Complementarity(), k=8,
                             weights=weights, per_category=2)
    assert look.source == "rules" and len(look.items) == 8
    kinds = Counter(i.result.product.article_type for i in look.items)
    assert max(kinds.values()) <= 2 and len(kinds) >= 4
    for i in look.items:
        p = i.result.product
        assert slot(p) not in ("top", "full", None), p
        assert p.gender in ("Men", "Unisex")
        assert i.score == pytest.approx(0.3 * i.style + 0.7 * i.complementarity)
    assert [i.score for i in look.items] == sorted((i.score for i in look.items), reverse=True)


@pytest.mark.slow
def test_cli_complete(index_dir):
    index = ProductIndex.load(index_dir)
    pid = index.all_ids()[0]
    done = subprocess.run([sys.executable, "-m", "retrieval", "complete", "--index", str(index_dir),
                           "--item", pid, "--k", "5", "--style", "1", "--complementarity", "0",
                           "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["anchor"]["id"] == pid and out["weights"] == {"style": 1.0, "complementarity": 0.0,
                                                             "popularity": 0.0}
    assert out["complementarity_from"] == "rules" and 0 < len(out["items"]) <= 5
    assert all(r["score"] == pytest.approx(r["style"]) for r in out["items"])
    bad = subprocess.run([sys.executable, "-m", "retrieval", "complete", "--index", str(index_dir),
                          "--item", "no-such-id"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no-such-id" in bad.stderr
