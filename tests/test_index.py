"""The USearch index: filters during search, incremental changes, atomic saves, HNSW recall."""
from __future__ import annotations

import os

import numpy as np
import pytest

from retrieval import ClusterMap, Filters, IndexLookupError, IngestReport, ProductIndex, QueryError
from retrieval import index as index_module


def test_item_search_never_returns_the_query_item(shop_searcher):
    ids = shop_searcher.index.all_ids()
    for pid in ids[:30]:
        results = shop_searcher.item(pid, 5)
        assert len(results) == 5 and pid not in [r.id for r in results]
        assert results == sorted(results, key=lambda r: -r.score)


def test_item_search_finds_the_same_article_type(shop_searcher):
    ids = shop_searcher.index.all_ids()
    same = []
    for pid in ids[:60]:
        query = shop_searcher.index.product(pid)
        same += [r.product.article_type == query.article_type for r in shop_searcher.item(pid, 5)]
    assert np.mean(same) > 0.6


@pytest.mark.parametrize("exact_limit", [0, 10**9], ids=["hnsw-path", "exact-path"])
def test_filters_hold_for_every_result(shop_searcher, monkeypatch, exact_limit):
    monkeypatch.setattr(index_module, "EXACT_LIMIT", exact_limit)
    monkeypatch.setattr(index_module, "EXACT_SHARE", 0.0 if exact_limit == 0 else 1.0)
    colours = ["Black", "Blue", "Red", "Pink", "Grey", "Navy Blue", "Yellow"]
    filters = Filters(gender="women", colour=colours, price_max=3000)
    expected = shop_searcher.index.allowed_keys(filters)
    assert 10 < len(expected) < len(shop_searcher.index)
    results = shop_searcher.text("shirt", 10, filters)
    assert len(results) == 10
    for r in results:
        assert r.product.gender == "Women" and r.product.colour in colours
        assert r.product.price is not None and r.product.price <= 3000
    by_category = shop_searcher.text("shoes", 5, Filters(category="Footwear"))
    assert by_category and all(r.product.category == "Footwear" for r in by_category)
    assert shop_searcher.text("shirt", 5, Filters(colour="no such colour")) == []


def test_hnsw_matches_exact_search(shop_searcher):
    index = shop_searcher.index
    recalls = []
    for pid in index.all_ids()[:50]:
        vec = index.vector(pid)
        approx = {r.id for r in index.search(vec, 10)}
        exact = {r.id for r in index.search(vec, 10, exact=True)}
        recalls.append(len(approx & exact) / 10)
    assert np.mean(recalls) >= 0.99


def test_add_remove_and_atomic_save(shop_index, tmp_path, shop_catalog, shop_features, standin, monkeypatch):
    import shutil

    from retrieval import project

    folder = tmp_path / "idx"
    shutil.copytree(shop_index, folder)
    index = ProductIndex.load(folder)
    gone = index.all_ids()[:3]
    index.remove(gone)
    assert all(g not in index for g in gone)
    vec = index.vector(index.all_ids()[0])
    assert not {r.id for r in index.search(vec, len(index))} & set(gone)
    index.save(folder)
    reloaded = ProductIndex.load(folder)
    assert len(reloaded) == len(shop_catalog) - 3 and gone[0] not in reloaded
    # The parts saved beside the build's generation are carried into the new one.
    assert reloaded.load_part(ClusterMap) is not None
    assert reloaded.load_part(IngestReport).products_kept == len(shop_catalog)
    # Adding back: found again, under a new key.
    emb = project(shop_features, standin).subset(np.arange(3))
    reloaded.add(shop_catalog.products[:3], emb)
    assert [r.id for r in reloaded.search(reloaded.vector(gone[0]), 1, exact=True)] == [gone[0]]

    # A crash while writing the next generation leaves the previous one live and loadable.
    def crash(*args, **kwargs):
        raise OSError("disk full")

    before = (folder / "CURRENT").read_text()
    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError):
        reloaded.save(folder)
    monkeypatch.undo()
    assert (folder / "CURRENT").read_text() == before
    assert len(ProductIndex.load(folder)) == len(shop_catalog) - 3


def test_two_writers_never_lose_each_others_changes(shop_index, tmp_path):
    """The second of two writers waits for the first's save (the folder's lock), and an index
    loaded before someone else's save is refused rather than saved over it."""
    import shutil
    import threading

    from retrieval import IndexConflict, writer_lock

    folder = tmp_path / "idx"
    shutil.copytree(shop_index, folder)
    first, second = ProductIndex.load(folder), ProductIndex.load(folder)
    first.remove(first.all_ids()[:1])
    first.save(folder)
    second.remove(second.all_ids()[1:2])
    with pytest.raises(IndexConflict, match="another writer"):
        second.save(folder)
    assert len(ProductIndex.load(folder)) == len(first)

    holding, release, order = threading.Event(), threading.Event(), []

    def other_writer():
        with writer_lock(folder):
            holding.set()
            release.wait()
            order.append("other writer done")

    thread = threading.Thread(target=other_writer)
    thread.start()
    holding.wait()
    threading.Timer(0.5, release.set).start()
    reloaded = ProductIndex.load(folder)
    reloaded.remove(reloaded.all_ids()[:1])
    reloaded.save(folder)                      # waits for the other writer to finish
    order.append("saved")
    thread.join()
    assert order == ["other writer done", "saved"]
    assert len(ProductIndex.load(folder)) == len(first) - 1


def test_typed_catalogue_queries(shop_searcher, shop_catalog):
    index, products = shop_searcher.index, shop_catalog.products
    assert index.distinct("gender") == sorted({p.gender for p in products if p.gender})
    counts = index.facet_counts("article_type", "gender")
    assert sum(n for *_, n in counts) == len(products)
    assert [n for *_, n in counts] == sorted((n for *_, n in counts), reverse=True)
    kind, gender, n = counts[0]
    assert n == sum(p.article_type == kind and p.gender == gender for p in products)
    men = index.products_where(Filters(gender="Men"))
    assert len(men) == sum(p.gender == "Men" for p in products) and all(p.gender == "Men" for p in men)
    assert index.has(Filters(gender="Men")) and not index.has(Filters(colour="No Such Colour"))
    with pytest.raises(ValueError, match="unknown column"):
        index.distinct("data; DROP TABLE products")


def test_clear_errors(shop_searcher, tmp_path):
    with pytest.raises(QueryError, match="unknown product id"):
        shop_searcher.item("no-such-id")
    with pytest.raises(QueryError, match="empty text"):
        shop_searcher.text("   ")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    with pytest.raises(QueryError, match="bad.jpg"):
        shop_searcher.image(bad)
    with pytest.raises(IndexLookupError, match="not a readable index"):
        ProductIndex.load(tmp_path)
