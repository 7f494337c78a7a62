"""The kind classifier names the article type of catalogue photos it never saw."""
import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from retrieval import CONFIDENCE, Filters, KindClassifier


def test_kind_of_held_out_photos_is_named_far_better_than_the_commonest_kind(shop_catalog, shop_features):
    rows = [r for r, p in enumerate(shop_catalog.products) if shop_features.has_image[r] and p.article_type]
    train, test = rows[: len(rows) * 4 // 5], rows[len(rows) * 4 // 5:]
    types = [shop_catalog.products[r].article_type for r in rows]
    photos = shop_features.image
    clf = KindClassifier.fit(photos[train], [[shop_catalog.products[r].article_type] for r in train])
    named = [k for k, _ in clf.predict(photos[test])]
    truth = [shop_catalog.products[r].article_type for r in test]
    accuracy = np.mean([a == b for a, b in zip(named, truth)])
    commonest = Counter(types).most_common(1)[0][1] / len(types)
    assert accuracy >= 0.75 and accuracy > commonest + 0.2, (accuracy, commonest)
    p = clf.probabilities(photos[test])
    assert np.allclose(p.sum(1), 1) and p.shape == (len(test), len(clf.kinds))


def test_a_photo_of_two_possible_kinds_teaches_both_equally(shop_catalog, shop_features):
    """Another shop's type that maps to two of ours (its photo labelled with both) leaves them
    equally likely when nothing else tells them apart."""
    jeans_rows = [r for r, p in enumerate(shop_catalog.products) if p.article_type == "Jeans"]
    watch_rows = [r for r, p in enumerate(shop_catalog.products) if p.article_type == "Watches"]
    photos = shop_features.image[jeans_rows + watch_rows]
    clf = KindClassifier.fit(photos, [["Jeans", "Trousers"]] * len(jeans_rows) + [["Watches"]] * len(watch_rows))
    p = clf.probabilities(photos[:len(jeans_rows)])
    jeans, trousers = clf.kinds.index("Jeans"), clf.kinds.index("Trousers")
    assert np.allclose(p[:, jeans], p[:, trousers], atol=0.02)
    assert (p[:, jeans] + p[:, trousers] > 0.9).all()


def test_a_photo_puts_the_kind_it_shows_first_unless_a_filter_names_one(shop_searcher):
    index = shop_searcher.index
    shoe = next(p for p in (index.product(i) for i in index.all_ids()) if p.article_type == "Casual Shoes")
    found = shop_searcher.image(shoe.image_path, k=10)
    assert found.kind == "Casual Shoes" and found.confidence >= CONFIDENCE
    kinds = [r.product.article_type for r in found.results]
    shoes = sum(index.product(i).article_type == "Casual Shoes" for i in index.all_ids())
    assert len(kinds) == 10 and kinds[:shoes] == ["Casual Shoes"] * shoes     # that kind, then others
    assert "Casual Shoes" not in kinds[shoes:]
    bags = shop_searcher.image(shoe.image_path, k=5, filters=Filters(article_type="Handbags"))
    assert bags.kind is None and bags.results
    assert all(r.product.article_type == "Handbags" for r in bags.results)


def test_another_shops_labelled_photos_teach_the_build_to_name_their_kind(tmp_path, catalog):
    """H&M packshots named by a classifier learnt from the catalogue alone, then with other H&M
    photos (types mapped by the photo suite's table): held-out H&M photos are named right more
    often, and a map row without our types is refused naming its row."""
    from retrieval import Searcher, build_index, hm_dir, load_catalog, read_kind_map

    table = read_kind_map(Path(__file__).parent.parent / "eval" / "data" / "hm_to_myntra_kinds.csv")
    hm = load_catalog(hm_dir(), limit=900, check_images=False)
    photos = [p for p in hm.products if p.image_path and p.article_type in table]
    teach, asked = photos[:600], photos[600:]
    teach_catalog = dataclasses.replace(hm, products=teach)

    def named_right(index_dir) -> float:
        searcher = Searcher(index_dir)
        named = [searcher.image(p.image_path, k=1) for p in asked]
        return np.mean([n.kind in table[p.article_type] for n, p in zip(named, asked)])

    alone = build_index(catalog, tmp_path / "alone").folder
    taught = build_index(catalog, tmp_path / "taught", kind_photos=teach_catalog, kind_map=table).folder
    assert named_right(taught) > named_right(alone) + 0.1
    bad = tmp_path / "map.csv"
    bad.write_text("their type,our types\nTrousers,\n")
    with pytest.raises(ValueError, match="map.csv, row 2"):
        read_kind_map(bad)
