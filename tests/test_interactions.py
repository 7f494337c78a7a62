"""Purchase histories: readers that report bad rows, the leave-last-out split and its guard."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval import (
    IngestReport,
    Interactions,
    LeakageError,
    assert_no_leakage,
    copurchases,
    hm_dir,
    leave_last_out,
    read_pairs,
    read_transactions,
    same_day_pairs,
)

HEADER = "t_dat,customer_id,article_id,price,sales_channel_id\n"


def test_bad_transaction_rows_are_reported_and_the_rest_kept(tmp_path):
    path = tmp_path / "transactions.csv"
    path.write_text(HEADER +
                    "2020-01-01,u1,0100000001,0.1,2\n"
                    "2020-13-45,u1,0100000002,0.1,2\n"      # bad date
                    ",u2,0100000003,0.1,2\n"                # bad date too (empty)
                    "2020-01-02,,0100000003,0.1,2\n"        # no customer
                    "2020-01-02,u2,100000004,0.1\n"         # wrong field count
                    "2020-01-03,u2,100000005,0.1,1\n"       # leading zero restored
                    "2020-01-03,u2,0999999999,0.1,1\n")     # not in the catalogue
    report = IngestReport()
    known = {"0100000001", "0100000002", "0100000003", "0100000005"}
    events = read_transactions(path, report, known)
    assert list(zip(events.users, events.items)) == [("u1", "0100000001"), ("u2", "0100000005")]
    by_row = {i.row: i for i in report.issues}
    assert set(by_row) == {3, 4, 5, 6, 8}
    assert by_row[3].field == "t_dat" and "2020-13-45" in by_row[3].reason
    assert by_row[5].field == "customer_id"
    assert "field count" in by_row[6].reason
    assert by_row[8].reason == "product not in the catalogue"
    assert all(i.action == "skipped" and i.file == str(path) for i in report.issues)


def test_leave_last_out_holds_out_each_users_last_new_product():
    events = Interactions.from_events([
        ("a", "p1", 1), ("a", "p2", 5), ("a", "p1", 9),   # p1 again later: a repeat, not new
        ("a", "p3", 7),
        ("b", "p2", 3),                                   # a single product: training only
        ("c", "p4", 2), ("c", "p5", 2),                   # same day: file order breaks the tie
    ])
    split = leave_last_out(events)
    assert sorted(zip(split.test.users, split.test.items)) == [("a", "p3"), ("c", "p5")]
    assert sorted(zip(split.train.users, split.train.items)) == [
        ("a", "p1"), ("a", "p2"), ("b", "p2"), ("c", "p4")]
    assert split.train.days[list(split.train.items).index("p1")] == 1    # earliest purchase kept


def test_leakage_guard_names_the_problem():
    train = Interactions.from_events([("a", "p1", 1), ("a", "p2", 2)])
    with pytest.raises(LeakageError, match="test interactions are in the training data"):
        assert_no_leakage(train, Interactions.from_events([("a", "p2", 3)]))
    with pytest.raises(LeakageError, match="later than"):
        assert_no_leakage(train, Interactions.from_events([("a", "p3", 1)]))


def test_same_day_baskets_become_pairs():
    events = Interactions.from_events([("a", "x", 1), ("a", "y", 1), ("a", "z", 2), ("b", "x", 1)])
    assert same_day_pairs(events) == [("x", "y")]


@pytest.mark.data
def test_hm_purchases_are_read_whole():
    report = IngestReport()
    assert len(read_transactions(hm_dir() / "transactions.csv", report)) == 31_662 and not report.issues


def test_purchases_split_without_leakage(shop):
    report = IngestReport()
    events = read_transactions(shop / "transactions.csv", report)
    rows = (shop / "transactions.csv").read_text().count("\n") - 1
    assert len(events) == rows > 30 and not report.issues
    assert len(set(events.users.tolist())) == 12
    split = leave_last_out(events)
    assert len(split.test) == len(set(split.test.users.tolist()))          # one per user
    last_train = {}
    for u, d in zip(split.train.users, split.train.days):
        last_train[u] = max(d, last_train.get(u, d))
    assert all(d >= last_train[u] for u, d in zip(split.test.users, split.test.days))
    assert not split.train.pairs() & split.test.pairs()


def test_bought_together_pairs_keep_leading_zeros(tmp_path):
    (tmp_path / "bought_together.csv").write_text(
        "article_id,other_article_id,score\n"
        "868037001,0845790001,0.097\n"
        "0868037001,,0.5\n"
        "0868037001,0902419001,high\n")
    report = IngestReport()
    pairs = read_pairs(tmp_path / "bought_together.csv", report)
    assert pairs == [("0868037001", "0845790001", 0.097), ("0868037001", "0902419001", 1.0)]
    assert [(i.row, i.field, i.action) for i in report.issues] == [
        (3, "other_article_id", "skipped"), (4, "score", "repaired")]
    assert copurchases(tmp_path, IngestReport()) == [("0868037001", "0845790001"),
                                                     ("0868037001", "0902419001")]
    assert np.all(np.array([a for a, _, _ in pairs]) == "0868037001")
