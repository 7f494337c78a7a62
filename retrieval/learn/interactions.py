"""Who viewed or bought what, and which products are bought together: readers, a time-based
leave-last-out split and a guard against train/test leakage.

A bad row (missing id, unreadable date, unknown product) is reported in an ``IngestReport`` and
skipped; the rest of the file is kept.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import combinations
from pathlib import Path

import numpy as np

from ..ingest.common import clean, csv_records
from ..ingest.report import IngestReport
from .splits import LeakageError


@dataclass(frozen=True)
class Interactions:
    """One row per event: user id, product id, day (days since 1970; 0 when unknown), file order."""

    users: np.ndarray
    items: np.ndarray
    days: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, rows) -> Interactions:
        return Interactions(self.users[rows], self.items[rows], self.days[rows])

    @classmethod
    def from_events(cls, events: Iterable[tuple[str, str, int]]) -> Interactions:
        events = list(events)
        users, items, days = zip(*events) if events else ((), (), ())
        return cls(np.array(users, dtype=object), np.array(items, dtype=object),
                   np.array(days, dtype=np.int64))

    def pairs(self) -> set[tuple[str, str]]:
        return set(zip(self.users.tolist(), self.items.tolist()))

    def histories(self) -> dict[str, list[str]]:
        """Each user's products, oldest first (ties keep file order)."""
        out: dict[str, list[str]] = {}
        for row in np.lexsort((np.arange(len(self)), self.days)):
            out.setdefault(self.users[row], []).append(self.items[row])
        return out

    def first_purchases(self) -> Interactions:
        """Repeat events of the same (user, product) removed, the earliest kept."""
        seen, keep = set(), []
        for row in np.lexsort((np.arange(len(self)), self.days)):
            key = (self.users[row], self.items[row])
            if key not in seen:
                seen.add(key)
                keep.append(row)
        return self.subset(np.sort(np.array(keep, dtype=np.int64)))


def _day(text: str) -> int:
    return (date.fromisoformat(text) - date(1970, 1, 1)).days


def read_transactions(path: str | Path, report: IngestReport,
                      known: set[str] | None = None) -> Interactions:
    """H&M ``transactions.csv`` (t_dat, customer_id, article_id, ...); ``known`` restricts the
    products to a catalogue (an event for another product is reported and skipped)."""
    path = Path(path)
    events = []
    for number, row in csv_records(path, report, {"t_dat", "customer_id", "article_id"}):
        user, item = clean(row["customer_id"]), clean(row["article_id"])
        if user is None or item is None:
            report.add(path, number, item, "customer_id" if user is None else "article_id",
                       "missing or empty field", "skipped")
            continue
        item = item.zfill(10)
        try:
            day = _day(row["t_dat"].strip())
        except ValueError:
            report.add(path, number, item, "t_dat", f"not a date: {row['t_dat']!r}", "skipped")
            continue
        if known is not None and item not in known:
            report.add(path, number, item, "article_id", "product not in the catalogue", "skipped")
            continue
        events.append((user, item, day))
    return Interactions.from_events(events)


def read_pairs(path: str | Path, report: IngestReport,
               known: set[str] | None = None) -> list[tuple[str, str, float]]:
    """H&M ``bought_together.csv``: (article_id, other_article_id, score) rows."""
    path = Path(path)
    pairs = []
    for number, row in csv_records(path, report, {"article_id", "other_article_id"}):
        a, b = clean(row["article_id"]), clean(row["other_article_id"])
        if a is None or b is None:
            report.add(path, number, a, "article_id" if a is None else "other_article_id",
                       "missing or empty field", "skipped")
            continue
        a, b = a.zfill(10), b.zfill(10)
        if known is not None and not (a in known and b in known):
            report.add(path, number, a, "other_article_id" if a in known else "article_id",
                       "product not in the catalogue", "skipped")
            continue
        score = 1.0
        if "score" in row:
            try:
                score = float(row["score"])
            except ValueError:
                report.add(path, number, a, "score", f"not a number: {row['score']!r}", "repaired")
        pairs.append((a, b, score))
    return pairs


@dataclass(frozen=True)
class LeaveLastOut:
    """Per user, the last new product (by day, then file order) is the test event; the earlier
    ones are training. Users with a single product only train."""

    train: Interactions
    test: Interactions

    def check(self) -> None:
        assert_no_leakage(self.train, self.test)


def leave_last_out(events: Interactions) -> LeaveLastOut:
    events = events.first_purchases()
    order = np.lexsort((np.arange(len(events)), events.days))
    last: dict[str, int] = {}
    count: dict[str, int] = {}
    for row in order:
        last[events.users[row]] = row
        count[events.users[row]] = count.get(events.users[row], 0) + 1
    test_rows = np.array(sorted(r for u, r in last.items() if count[u] > 1), dtype=np.int64)
    is_test = np.zeros(len(events), dtype=bool)
    is_test[test_rows] = True
    split = LeaveLastOut(events.subset(~is_test), events.subset(is_test))
    split.check()
    return split


def assert_no_leakage(train: Interactions, test: Interactions) -> None:
    """No test (user, product) pair is in the training events, and no training event of a user is
    later than that user's test event."""
    shared = train.pairs() & test.pairs()
    if shared:
        raise LeakageError(f"{len(shared)} test interactions are in the training data, "
                           f"e.g. {sorted(shared)[:3]}")
    test_day = dict(zip(test.users.tolist(), test.days.tolist()))
    late = [u for u, d in zip(train.users.tolist(), train.days.tolist())
            if u in test_day and d > test_day[u]]
    if late:
        raise LeakageError(f"{len(late)} training events are later than their user's test event, "
                           f"e.g. user {late[0]}")


def same_day_pairs(events: Interactions, max_basket: int = 20) -> list[tuple[str, str]]:
    """Pairs of products one user bought on the same day (baskets over ``max_basket`` skipped:
    bulk orders say little about what goes together)."""
    baskets: dict[tuple, set[str]] = defaultdict(set)
    for user, item, day in zip(events.users, events.items, events.days):
        baskets[(user, day)].add(item)
    return [(a, b) for items in baskets.values() if len(items) <= max_basket
            for a, b in combinations(sorted(items), 2)]


def purchase_histories(events: Interactions, ids: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per user: (rows of ``ids`` bought, their days), oldest first, each product once."""
    row = {pid: i for i, pid in enumerate(ids)}
    out: dict[str, tuple[list[int], list[int]]] = {}
    first = events.first_purchases()
    for r in np.lexsort((np.arange(len(first)), first.days)):
        items, days = out.setdefault(first.users[r], ([], []))
        items.append(row[first.items[r]])
        days.append(int(first.days[r]))
    return [(np.array(i, dtype=np.int64), np.array(d, dtype=float)) for i, d in out.values()]


def copurchases(folder: str | Path, report: IngestReport,
                known: set[str] | None = None) -> list[tuple[str, str]]:
    """Co-purchase pairs from a catalogue folder: ``bought_together.csv`` and same-day baskets of
    ``transactions.csv``, whichever exist."""
    folder = Path(folder)
    pairs: list[tuple[str, str]] = []
    if (folder / "bought_together.csv").is_file():
        pairs += [(a, b) for a, b, _ in read_pairs(folder / "bought_together.csv", report, known)]
    if (folder / "transactions.csv").is_file():
        pairs += same_day_pairs(read_transactions(folder / "transactions.csv", report, known))
    return pairs
