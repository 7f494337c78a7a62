"""The analysts' ratings database: validation, persistence across restarts, CSV export."""
from __future__ import annotations

import csv

import pytest

from explain.ratings import Feedback, Rating, RatingStore


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


def test_thumbs_keep_their_trace_and_are_summarised_per_source(tmp_path):
    path = tmp_path / "r.sqlite"
    store = RatingStore(path)
    store.add(rating(explanation_source="llm", clarity=4, trust=3, flagged=True))
    store.add(rating(explanation_source="template", clarity=2, trust=3))
    trace = {"intent": "explain", "tools": [{"name": "explain", "args": {"product": "15970"}}]}
    store.add_feedback(Feedback("s1", 3, True, "Navy like you asked.", "llm", trace))
    store.add_feedback(Feedback("s1", 5, False, "Here are 6 products", "", {"intent": "search"}))
    store.add_feedback(Feedback("s2", 1, False, "Navy, as asked.", "llm", trace))
    store.close()
    reopened = RatingStore(path)
    assert [(f.session, f.message_index, f.liked) for f in reopened.feedback()] == \
        [("s1", 3, True), ("s1", 5, False), ("s2", 1, False)]
    assert reopened.feedback()[0].trace == trace
    assert reopened.summary() == {
        "llm": {"ratings": 1, "clarity": 4.0, "trust": 3.0, "flagged_share": 1.0,
                "thumbs_up": 1, "thumbs_down": 1},
        "template": {"ratings": 1, "clarity": 2.0, "trust": 3.0, "flagged_share": 0.0},
        "other": {"thumbs_up": 0, "thumbs_down": 1}}
    assert [r.explanation_source for r in reopened.all(source="llm")] == ["llm"]
    assert [r.clarity for r in reopened.all(min_rating=3)] == [4]     # min(clarity, trust) >= 3
    assert [r.flagged for r in reopened.all(flagged=True)] == [True]
