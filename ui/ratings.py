"""Analysts' ratings of explanations, kept in one SQLite file (``FASHION_RATINGS`` or
``runs/ratings.sqlite``) so they survive restarts; exported to CSV."""
from __future__ import annotations

import csv
import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from retrieval.settings import runs_dir

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
        row = asdict(rating)
        row.pop("id")
        row["created"] = rating.created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
        row["flagged"] = int(bool(rating.flagged))
        with self.lock, self.db:
            cur = self.db.execute(f"INSERT INTO ratings ({','.join(row)}) VALUES "
                                  f"({','.join('?' * len(row))})", list(row.values()))
        return int(cur.lastrowid)

    def all(self) -> list[Rating]:
        names = [f.name for f in fields(Rating)]
        with self.lock:
            rows = self.db.execute(f"SELECT {','.join(names)} FROM ratings ORDER BY id").fetchall()
        return [Rating(**{**dict(zip(names, r)), "flagged": bool(r[names.index("flagged")])})
                for r in rows]

    def export_csv(self, path: str | Path) -> Path:
        """All ratings as CSV, written to a temporary file and renamed into place."""
        path = Path(path)
        names = [f.name for f in fields(Rating)]
        fd, tmp = tempfile.mkstemp(prefix=".ratings-", suffix=".csv", dir=path.parent)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            for r in self.all():
                writer.writerow([getattr(r, n) for n in names])
        os.replace(tmp, path)
        return path

    def close(self) -> None:
        self.db.close()
