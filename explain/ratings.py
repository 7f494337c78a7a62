"""Analysts' ratings of explanations and shoppers' thumbs up/down on answers, kept in one SQLite
file (``FASHION_RATINGS`` or ``runs/ratings.sqlite``) so they survive restarts; ratings export to
CSV; both are summarised per explanation source."""
from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from retrieval import runs_dir

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: object) -> object:
    """``value`` for a CSV cell: a text starting like a formula gets a leading ``'`` (OWASP's
    advice against CSV injection), so a spreadsheet shows it as text."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    analyst TEXT NOT NULL DEFAULT '',
    query TEXT NOT NULL,
    product_id TEXT NOT NULL,
    explanation TEXT NOT NULL,
    explanation_source TEXT NOT NULL,
    clarity INTEGER NOT NULL CHECK (clarity BETWEEN 1 AND 5),
    trust INTEGER NOT NULL CHECK (trust BETWEEN 1 AND 5),
    flagged INTEGER NOT NULL CHECK (flagged IN (0, 1)),
    comment TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    session TEXT NOT NULL,
    message_index INTEGER NOT NULL,
    liked INTEGER NOT NULL CHECK (liked IN (0, 1)),
    message TEXT NOT NULL,
    explanation_source TEXT NOT NULL DEFAULT '',
    trace TEXT NOT NULL DEFAULT '{}'
);
"""


def default_path() -> Path:
    return Path(os.environ.get("FASHION_RATINGS", runs_dir() / "ratings.sqlite"))


@dataclass
class Rating:
    query: str
    product_id: str
    explanation: str
    explanation_source: str
    clarity: int
    trust: int
    flagged: bool = False
    comment: str = ""
    analyst: str = ""
    created: str = ""
    id: int | None = None


@dataclass
class Feedback:
    """A shopper's thumbs up or down on one answer, with the trace of the turn that made it."""
    session: str
    message_index: int
    liked: bool
    message: str
    explanation_source: str = ""          # "llm" / "template" when the answer explained a product
    trace: dict | None = None
    created: str = ""
    id: int | None = None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class RatingStore:
    """Thread-safe: one connection behind a lock (Gradio serves events from worker threads)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    def add(self, rating: Rating) -> int:
        for name in ("clarity", "trust"):
            value = getattr(rating, name)
            if not isinstance(value, int) or not 1 <= value <= 5:
                raise ValueError(f"{name} must be an integer from 1 to 5, not {value!r}")
        if not rating.product_id:
            raise ValueError("product_id is empty: pick a recommendation first")
        return self._insert("ratings", rating, flagged=int(bool(rating.flagged)))

    def all(self, source: str | None = None, min_rating: int | None = None,
            flagged: bool | None = None) -> list[Rating]:
        """Ratings, oldest first; ``source`` (llm / template), ``min_rating`` (clarity and trust
        both at least) and ``flagged`` narrow them."""
        names = [f.name for f in fields(Rating)]
        where, params = [], []
        if source:
            where.append("explanation_source = ?")
            params.append(source)
        if min_rating:
            where.append("MIN(clarity, trust) >= ?")
            params.append(int(min_rating))
        if flagged is not None:
            where.append("flagged = ?")
            params.append(int(flagged))
        sql = (f"SELECT {','.join(names)} FROM ratings "
               f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id")
        with self.lock:
            rows = self.db.execute(sql, params).fetchall()
        return [Rating(**{**dict(zip(names, r)), "flagged": bool(r[names.index("flagged")])})
                for r in rows]

    def add_feedback(self, feedback: Feedback) -> int:
        if not feedback.session:
            raise ValueError("session is empty")
        return self._insert("feedback", feedback, liked=int(bool(feedback.liked)),
                            trace=json.dumps(feedback.trace or {}, ensure_ascii=False, default=str))

    def _insert(self, table: str, record: Rating | Feedback, **stored) -> int:
        """Insert ``record``'s fields (``stored`` replaces some by their column values) with its
        creation time; returns the new row's id."""
        row = {**asdict(record), "created": record.created or _now(), **stored}
        row.pop("id")
        with self.lock, self.db:
            cur = self.db.execute(f"INSERT INTO {table} ({','.join(row)}) VALUES "
                                  f"({','.join('?' * len(row))})", list(row.values()))
        return int(cur.lastrowid)

    def feedback(self) -> list[Feedback]:
        names = [f.name for f in fields(Feedback)]
        with self.lock:
            rows = self.db.execute(f"SELECT {','.join(names)} FROM feedback ORDER BY id").fetchall()
        return [Feedback(**{**dict(zip(names, r)), "liked": bool(r[names.index("liked")]),
                            "trace": json.loads(r[names.index("trace")])}) for r in rows]

    def summary(self) -> dict[str, dict]:
        """Per explanation source: analysts' ratings (count, mean clarity and trust, flagged
        share) and shoppers' thumbs (up, down); answers that explained no product are "other"."""
        out: dict[str, dict] = {}
        with self.lock:
            rated = self.db.execute(
                "SELECT explanation_source, COUNT(*), AVG(clarity), AVG(trust), AVG(flagged) "
                "FROM ratings GROUP BY explanation_source").fetchall()
            thumbs = self.db.execute(
                "SELECT explanation_source, SUM(liked), SUM(1 - liked) FROM feedback "
                "GROUP BY explanation_source").fetchall()
        for source, n, clarity, trust, flagged in rated:
            out.setdefault(source or "other", {}).update(
                ratings=n, clarity=round(clarity, 3), trust=round(trust, 3),
                flagged_share=round(flagged, 3))
        for source, up, down in thumbs:
            out.setdefault(source or "other", {}).update(thumbs_up=int(up), thumbs_down=int(down))
        return out

    def export_csv(self, path: str | Path) -> Path:
        """All ratings as CSV, written to a temporary file and renamed into place; a text that a
        spreadsheet would read as a formula is written with a leading apostrophe."""
        path = Path(path)
        names = [f.name for f in fields(Rating)]
        fd, tmp = tempfile.mkstemp(prefix=".ratings-", suffix=".csv", dir=path.parent)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            for r in self.all():
                writer.writerow([spreadsheet_text(getattr(r, n)) for n in names])
        os.replace(tmp, path)
        return path

    def close(self) -> None:
        self.db.close()
