"""On-disk cache of tower features keyed by (tower identity, content hash).

A rebuild, a grown catalogue or a retrained projection re-encodes only images and texts whose
bytes (or the tower producing them) changed. SQLite gives atomic, concurrent-safe writes.
"""
from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..settings import cache_dir


def content_key(data: bytes | str) -> str:
    """sha1 of an image file's bytes or a text's UTF-8."""
    return hashlib.sha1(data.encode() if isinstance(data, str) else data).hexdigest()


class FeatureCache:
    """``get``/``put`` float32 vectors under (tower, key)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else cache_dir() / "features.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS features (tower TEXT, key TEXT, vec BLOB, "
                         "PRIMARY KEY (tower, key)) WITHOUT ROWID")

    def get(self, tower: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 900):  # SQLite's bound-parameter limit
            chunk = keys[start:start + 900]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, vec FROM features WHERE tower=? AND key IN ({marks})", [tower, *chunk])
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return found

    def put(self, tower: str, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?)",
                [(tower, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()])

    def count(self, tower: str | None = None) -> int:
        if tower is None:
            return self._db.execute("SELECT COUNT(*) FROM features").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM features WHERE tower=?", [tower]).fetchone()[0]

    def close(self) -> None:
        self._db.close()
