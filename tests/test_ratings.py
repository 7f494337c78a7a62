"""The analysts' ratings database: validation, persistence across restarts, CSV export."""
from __future__ import annotations

import csv

import pytest

from explain.ratings import Rating, RatingStore


def rating(**changes) -> Rating:
    base = dict(query="navy shirt", product_id="15970", explanation="Navy like you asked.",
                explanation_source="llm", clarity=4, trust=5, flagged=False, comment="ok")
    return Rating(**{**base, **changes})


def test_ratings_persist_and_export(tmp_path):
    path = tmp_path / "ratings.sqlite"
    store = RatingStore(path)
    first = store.add(rating())
    second = store.add(rating(product_id="1", flagged=True, comment='says "linen", it is cotton'))
    assert (first, second) == (1, 2)
    store.close()
    reopened = RatingStore(path)                              # a restart
    saved = reopened.all()
    assert [(r.id, r.product_id, r.flagged) for r in saved] == [(1, "15970", False), (2, "1", True)]
    assert saved[0].created
    out = reopened.export_csv(tmp_path / "ratings.csv")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["comment"] for r in rows] == ["ok", 'says "linen", it is cotton']
    assert not list(tmp_path.glob(".ratings-*"))             # no temporary file left behind


@pytest.mark.parametrize("bad, message", [({"clarity": 0}, "clarity"), ({"trust": 6}, "trust"),
                                          ({"trust": 2.5}, "trust"), ({"product_id": ""}, "product")])
def test_bad_ratings_are_refused_by_name(tmp_path, bad, message):
    store = RatingStore(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match=message):
        store.add(rating(**bad))
    assert store.all() == []
