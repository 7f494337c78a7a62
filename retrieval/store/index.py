"""USearch HNSW index over fused product vectors, with the catalogue in SQLite.

On disk an index folder holds immutable generations and a ``CURRENT`` pointer::

    DIR/CURRENT                 name of the live generation (replaced atomically)
    DIR/gen-000001/             vectors.usearch, catalog.sqlite, embeddings.npz, fusion.npz,
                                manifest.json, ingest_report.json, complement.json (if learned)
    DIR/encoders/<identity>/    the open_clip checkpoint the vectors were made with

A sharded index (``shards=N``, ``retrieval.shards``) keeps its vectors in N USearch indexes on Ray
actors, saved as ``vectors.usearch.shard-I`` in the same generation; everything else is here.

A save writes a whole new generation beside the old one and only then swaps ``CURRENT``, so a
crash mid-write leaves the previous index usable. Saves hold the folder's writer lock
(``retrieval.locks``), and an index loaded from a generation that is no longer current is not
saved over the newer one (``IndexConflict``): two writers never lose each other's changes.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar

import numpy as np
from usearch.index import Index, MetricKind
from usearch.index import search as exact_search

from .fusion import FUSION_FILE, Fusion, load_fusion
from .locks import writer_lock
from .products import Product
from .vectors import Features, unit

FORMAT = 2
KEEP_GENERATIONS = 2
OWN_FILES = ("vectors.usearch", "catalog.sqlite", "embeddings.npz", "manifest.json", FUSION_FILE)
# A filtered query whose filter keeps fewer rows than this (or less than EXACT_SHARE of the
# catalogue) is answered by exact search over just those rows; otherwise HNSW is searched with
# a fetch size sized from the filter's measured selectivity, grown until enough rows pass.
EXACT_LIMIT = 20_000
EXACT_SHARE = 0.05

COLUMNS = ("id", "title", "gender", "category", "subcategory", "article_type", "colour", "season",
           "usage", "year", "brand", "price", "image_path")
SCHEMA = f"""
CREATE TABLE products (key INTEGER PRIMARY KEY, {", ".join(c + (" TEXT UNIQUE NOT NULL" if c == "id" else "") for c in COLUMNS)},
                       has_image INTEGER, has_text INTEGER, text TEXT, data TEXT);
CREATE INDEX products_gender ON products(gender COLLATE NOCASE);
CREATE INDEX products_colour ON products(colour COLLATE NOCASE);
CREATE INDEX products_article_type ON products(article_type COLLATE NOCASE);
CREATE INDEX products_price ON products(price);
"""


class IndexConflict(RuntimeError):
    """Another writer saved a newer generation since this index was loaded."""


class IndexLookupError(LookupError):
    """Raised for unknown product ids and unreadable index folders (message names them)."""


class Part(Protocol):
    """Something saved beside the index in each generation, in its own file ``FILE``."""

    FILE: ClassVar[str]

    def save(self, folder: Path) -> None: ...

    @classmethod
    def load(cls, folder: Path) -> Part: ...


P = TypeVar("P", bound=Part)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class Filters:
    """Metadata constraints applied during search. Strings match case-insensitively; a list
    means any of its values. ``category`` matches master category, subcategory or article type.
    ``mentions``: every entry (a phrase, or a list of alternatives) must occur in the product's
    title, attributes or composition (``Product.facts``), e.g. "linen", "short sleeves"."""

    gender: str | Sequence[str] | None = None
    category: str | Sequence[str] | None = None
    article_type: str | Sequence[str] | None = None
    colour: str | Sequence[str] | None = None
    price_min: float | None = None
    price_max: float | None = None
    mentions: Sequence[str | Sequence[str]] | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in vars(self).values())

    def sql(self) -> tuple[str, list]:
        clauses, args = [], []

        def any_of(columns, value):
            values = [value] if isinstance(value, str) else list(value)
            marks = ",".join("?" * len(values))
            clauses.append("(" + " OR ".join(f"{c} COLLATE NOCASE IN ({marks})" for c in columns) + ")")
            args.extend(values * len(columns))

        if self.gender is not None:
            any_of(["gender"], self.gender)
        if self.category is not None:
            any_of(["category", "subcategory", "article_type"], self.category)
        if self.article_type is not None:
            any_of(["article_type"], self.article_type)
        if self.colour is not None:
            any_of(["colour"], self.colour)
        if self.price_min is not None:
            clauses.append("price >= ?")
            args.append(self.price_min)
        if self.price_max is not None:
            clauses.append("price <= ?")
            args.append(self.price_max)
        for entry in self.mentions or ():
            options = [entry] if isinstance(entry, str) else list(entry)
            clauses.append("(" + " OR ".join("text LIKE ? ESCAPE '\\'" for _ in options) + ")")
            args.extend("%" + _like_escape(o.lower()) + "%" for o in options)
        return " AND ".join(clauses) or "1", args


@dataclass
class SearchResult:
    id: str
    score: float
    title: str
    product: Product = field(repr=False)
    key: int = field(default=-1, repr=False)     # the product's key in the index

    def to_json(self) -> dict:
        return {"id": self.id, "score": round(self.score, 6), "title": self.title}


def _product_row(key: int, p: Product) -> tuple:
    return (key, *[getattr(p, c) for c in COLUMNS], int(p.has_image), int(p.has_text),
            p.facts.lower(), json.dumps(p.to_dict()))


def exact_for(allowed: int, n: int) -> bool:
    """Whether a filter keeping ``allowed`` of ``n`` rows is answered by exact search over them."""
    return allowed <= EXACT_LIMIT or allowed < EXACT_SHARE * n


def overfetched(search, n: int, vector: np.ndarray, count: int,
                allowed: set | None = None) -> list[tuple[int, float]]:
    """(key, inner product) of the top ``count`` HNSW hits among ``allowed`` keys (None: all):
    ``search(vector, fetch)`` asked for enough hits that ``count`` pass at the filter's share of
    the ``n`` rows, twice as many until they do."""
    share = 1.0 if allowed is None else len(allowed) / n
    fetch = min(n, math.ceil(count / max(share, 1e-9) * 1.2) + 8)
    while True:
        hits = [(int(m.key), 1.0 - float(m.distance)) for m in search(vector, fetch)
                if allowed is None or int(m.key) in allowed]
        if len(hits) >= count or fetch >= n:
            return hits
        fetch = min(n, fetch * 2)


class ProductIndex:
    """Fused vectors in USearch + products in SQLite + shared-space embeddings, kept in step."""

    def __init__(self, fusion: Fusion, shared_dim: int, encoder: str, *, connectivity: int = 16,
                 expansion_add: int = 128, expansion_search: int = 128, dtype: str = "f32",
                 shards: int = 0):
        self.fusion = fusion
        self.shared_dim = shared_dim
        self.encoder = encoder
        self.dim = fusion.dim(shared_dim)
        self.params = dict(connectivity=connectivity, expansion_add=expansion_add,
                           expansion_search=expansion_search, dtype=dtype)
        self.shards = shards          # 0: one USearch index here; N: N shards on Ray actors
        self.hnsw = self._vectors(shards)
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.executescript(SCHEMA)
        self.keys = np.zeros(0, dtype=np.int64)            # row -> key of the shared embeddings
        self.embeddings = Features(*(np.zeros((0, shared_dim), np.float32),) * 2,
                                   np.zeros(0, bool), np.zeros(0, bool))
        self.meta: dict = {}
        self.next_key = 0
        self._matrix: np.ndarray | None = None  # fused vectors by row, for exact search
        self._facets: dict[tuple, list[tuple]] = {}   # facet_counts by columns
        self.folder: Path | None = None        # where it was loaded from or last saved
        self.generation: Path | None = None

    def _vectors(self, shards: int):
        """Vectors are stored at unit length and compared by inner product: the cosine, without
        USearch's cos metric recomputing norms (interleaved A/B on 300k catalogue-shaped vectors:
        13% lower p50 query latency, 25% faster inserts). An index saved with the cos metric keeps
        it when loaded (its file says so)."""
        if shards:
            from .shards import ShardedVectors

            return ShardedVectors(shards, self.dim, "ip", **self.params)
        return Index(ndim=self.dim, metric=MetricKind.IP, **self.params)

    def reshard(self, shards: int) -> None:
        """Hold the same vectors under the same keys in ``shards`` shards on Ray actors (0: one
        USearch index in this process); ``save`` makes it a generation of its own."""
        if shards < 0:
            raise ValueError(f"shards must be 0 (one index) or more, not {shards}")
        vectors = self.matrix()
        self.hnsw, self.shards = self._vectors(shards), shards
        if len(self.keys):
            self.hnsw.add(self.keys, unit(vectors))

    # -- contents ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.hnsw)

    def key_of(self, product_id: str) -> int:
        row = self.db.execute("SELECT key FROM products WHERE id=?", [product_id]).fetchone()
        if row is None:
            raise IndexLookupError(f"unknown product id {product_id!r}")
        return row[0]

    def __contains__(self, product_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM products WHERE id=?", [product_id]).fetchone() is not None

    def products(self, keys: Iterable[int]) -> dict[int, Product]:
        keys = [int(k) for k in keys]
        out: dict[int, Product] = {}
        for start in range(0, len(keys), 900):
            chunk = keys[start:start + 900]
            rows = self.db.execute(
                f"SELECT key, data FROM products WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            out.update((k, Product.from_dict(json.loads(d))) for k, d in rows)
        return out

    def product(self, product_id: str) -> Product:
        key = self.key_of(product_id)
        return self.products([key])[key]

    def all_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM products ORDER BY key")]

    def products_where(self, filters: Filters | None = None, limit: int | None = None) -> list[Product]:
        """The products that pass ``filters`` (all by default), in key order."""
        where, args = (filters or Filters()).sql()
        sql = f"SELECT data FROM products WHERE {where} ORDER BY key"
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, limit]
        return [Product.from_dict(json.loads(d)) for (d,) in self.db.execute(sql, args)]

    def has(self, filters: Filters) -> bool:
        """Whether any product passes ``filters``."""
        where, args = filters.sql()
        return self.db.execute(f"SELECT 1 FROM products WHERE {where} LIMIT 1", args).fetchone() is not None

    def titles(self) -> list[str]:
        """Every non-empty product title, in catalogue order."""
        return [t for (t,) in self.db.execute("SELECT title FROM products WHERE title != ''")]

    def distinct(self, column: str) -> list[str]:
        """The distinct non-empty values of a catalogue column (one of ``COLUMNS``)."""
        if column not in COLUMNS:
            raise ValueError(f"unknown column {column!r}; one of {COLUMNS}")
        return [v for (v,) in self.db.execute(
            f"SELECT DISTINCT {column} FROM products WHERE {column} IS NOT NULL ORDER BY {column}")]

    def facet_counts(self, *columns: str) -> list[tuple]:
        """``(value of each column..., count)`` for every combination present, most common first
        (a missing value is None)."""
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown or not columns:
            raise ValueError(f"unknown columns {unknown}; choose from {COLUMNS}")
        if columns not in self._facets:              # kept until the products change
            names = ", ".join(columns)
            self._facets[columns] = [tuple(r) for r in self.db.execute(
                f"SELECT {names}, COUNT(*) AS n FROM products GROUP BY {names} ORDER BY n DESC, {names}")]
        return self._facets[columns]

    def embedding(self, product_id: str) -> tuple[np.ndarray, np.ndarray, bool, bool]:
        """Shared-space (image, text, has_image, has_text) of one product."""
        row = int(np.searchsorted(self.keys, self.key_of(product_id)))
        e = self.embeddings
        return e.image[row], e.text[row], bool(e.has_image[row]), bool(e.has_text[row])

    def vector(self, product_id: str) -> np.ndarray:
        """The fused vector of a product, as indexed."""
        return np.asarray(self.hnsw.get(self.key_of(product_id)), dtype=np.float32)

    def vectors_by_key(self, keys: Sequence[int]) -> np.ndarray:
        """The fused vectors of the products with these keys, one row each."""
        return self.matrix()[np.searchsorted(self.keys, np.asarray(keys, dtype=np.int64))]

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, vectors)`` of every product, row-aligned."""
        return self.keys, self.matrix()

    def all_products(self) -> list[Product]:
        """Every product, row-aligned with ``entries()``."""
        products = self.products(self.keys.tolist())
        return [products[int(k)] for k in self.keys]

    def results(self, keys: Sequence[int], scores: Sequence[float]) -> list[SearchResult]:
        """Search results for products given by key, with their scores, in that order."""
        products = self.products(keys)
        return [SearchResult(products[int(k)].id, float(s), products[int(k)].title,
                             products[int(k)], int(k)) for k, s in zip(keys, scores)]

    # -- changes ----------------------------------------------------------------------------
    def add(self, products: Sequence[Product], emb: Features) -> None:
        """Add (or replace, by id) products with their shared-space embeddings."""
        if len(products) != len(emb):
            raise ValueError(f"{len(products)} products but {len(emb)} embeddings")
        replaced = [p.id for p in products if p.id in self]
        if replaced:
            self.remove(replaced)
        keys = np.arange(self.next_key, self.next_key + len(products), dtype=np.int64)
        self.next_key += len(products)             # keys of removed products are never reused
        with self.db:
            self.db.executemany(f"INSERT INTO products VALUES ({','.join('?' * (len(COLUMNS) + 5))})",
                                [_product_row(int(k), p) for k, p in zip(keys, products)])
        if len(products):
            self.hnsw.add(keys, unit(self.fusion.items(emb)), log=len(products) >= 5000 and "indexing")
        e = self.embeddings
        self.embeddings = Features(np.vstack([e.image, emb.image]), np.vstack([e.text, emb.text]),
                                   np.concatenate([e.has_image, emb.has_image]),
                                   np.concatenate([e.has_text, emb.has_text]))
        self.keys = np.concatenate([self.keys, keys])
        self._matrix, self._facets = None, {}

    def remove(self, product_ids: Sequence[str]) -> None:
        keys = [self.key_of(pid) for pid in product_ids]
        with self.db:
            self.db.executemany("DELETE FROM products WHERE key=?", [(k,) for k in keys])
        self.hnsw.remove(keys)
        keep = ~np.isin(self.keys, keys)
        self.keys = self.keys[keep]
        self.embeddings = self.embeddings.subset(keep)
        self._matrix, self._facets = None, {}

    # -- search -----------------------------------------------------------------------------
    def allowed_keys(self, filters: Filters | None) -> np.ndarray | None:
        if filters is None or filters.is_empty():
            return None
        where, args = filters.sql()
        return np.array([r[0] for r in self.db.execute(f"SELECT key FROM products WHERE {where}",
                                                        args)], dtype=np.int64)

    def search(self, vector: np.ndarray, k: int = 10, filters: Filters | None = None,
               exclude: Sequence[str] = (), exact: bool = False) -> list[SearchResult]:
        """Top ``k`` products for a fused-space ``vector`` that pass ``filters``."""
        vector = unit(np.asarray(vector, dtype=np.float32).reshape(-1))
        if vector.shape[0] != self.dim:
            raise ValueError(f"query has {vector.shape[0]} dimensions, the index {self.dim}")
        excluded = {self.key_of(pid) for pid in exclude if pid in self}
        allowed = self.allowed_keys(filters)
        n = len(self)
        if n == 0 or (allowed is not None and len(allowed) == 0):
            return []
        want = k + len(excluded)
        if exact or (allowed is not None and exact_for(len(allowed), n)):
            keys = allowed if allowed is not None else self.keys
            hits = self._exact(vector, keys, want)
        else:
            hits = overfetched(self.hnsw.search, n, vector, want,
                               None if allowed is None else set(allowed.tolist()))
        hits = [(key, score) for key, score in hits if key not in excluded][:k]
        return self.results([key for key, _ in hits], [score for _, score in hits])

    def matrix(self) -> np.ndarray:
        """All fused vectors, one row per entry of ``keys`` (built once, dropped on change)."""
        if self._matrix is None:
            self._matrix = np.asarray(self.hnsw.get(self.keys), dtype=np.float32).reshape(
                len(self.keys), self.dim)
        return self._matrix

    def _exact(self, vector, keys: np.ndarray, count: int) -> list[tuple[int, float]]:
        if self.shards:              # each shard searches its own keys: no vector leaves it
            return [(h.key, 1.0 - h.distance) for h in self.hnsw.exact(vector, keys, count)]
        matrix = self.matrix()
        vectors = matrix if len(keys) == len(self.keys) else matrix[np.searchsorted(self.keys, keys)]
        matches = exact_search(vectors, vector, min(count, len(keys)), MetricKind.Cos, exact=True)
        return [(int(keys[m.key]), 1.0 - float(m.distance)) for m in matches]

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path, parts: Sequence[Part] = ()) -> Path:
        """Write a new generation into ``folder`` with ``parts`` beside it and make it current
        (atomically, under the folder's writer lock); the parts of the current generation that
        ``parts`` does not replace are carried over. Raises ``IndexConflict`` when this index
        was loaded from ``folder`` and another writer has saved since."""
        folder = Path(folder)
        with writer_lock(folder):
            current = _read_current(folder)
            loaded = self.generation.name if self.generation is not None and \
                self.folder is not None and self.folder.resolve() == folder.resolve() else None
            if loaded is not None and current != loaded:
                raise IndexConflict(f"{folder}: {current} was saved by another writer after this "
                                    f"index was loaded from {loaded}; load it again and redo the change")
            return self._write_generation(folder, parts)

    def _write_generation(self, folder: Path, parts: Sequence[Part]) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".tmp-gen-*"):
            shutil.rmtree(stale, ignore_errors=True)
        gens = sorted(folder.glob("gen-*"))
        name = f"gen-{int(gens[-1].name[4:]) + 1 if gens else 1:06d}"
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-gen-", dir=folder))
        self.hnsw.save(str(tmp / "vectors.usearch"))
        disk = sqlite3.connect(tmp / "catalog.sqlite")
        self.db.backup(disk)
        disk.close()
        e = self.embeddings
        np.savez(tmp / "embeddings.npz", keys=self.keys, image=e.image.astype(np.float16),
                 text=e.text.astype(np.float16), has_image=e.has_image, has_text=e.has_text)
        self.fusion.save(tmp)
        manifest = {"format": FORMAT, "encoder": self.encoder, "fusion": self.fusion.name,
                    "dim": self.dim, "shared_dim": self.shared_dim, "count": len(self),
                    "next_key": self.next_key, "shards": self.shards,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **self.params, **self.meta}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        for part in parts:
            part.save(tmp)
        if self.generation is not None and self.generation.is_dir():
            for old in self.generation.iterdir():
                if old.is_file() and not old.name.startswith(OWN_FILES) and \
                        not (tmp / old.name).exists():
                    shutil.copy2(old, tmp / old.name)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        os.rename(tmp, folder / name)
        pointer = folder / "CURRENT.tmp"
        pointer.write_text(name + "\n")
        with open(pointer, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(pointer, folder / "CURRENT")
        _fsync_folder(folder)
        for old in sorted(folder.glob("gen-*"))[:-KEEP_GENERATIONS]:
            shutil.rmtree(old, ignore_errors=True)
        self.folder, self.generation = folder, folder / name
        return self.generation

    @classmethod
    def load(cls, folder: str | Path) -> ProductIndex:
        folder = Path(folder)
        try:
            gen = folder / (folder / "CURRENT").read_text().strip()
            if gen == folder:
                raise ValueError("CURRENT is empty")
            manifest = json.loads((gen / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise IndexLookupError(f"{folder}: not a readable index ({exc})") from None
        if manifest.get("format") != FORMAT:
            raise IndexLookupError(f"{folder}: index format {manifest.get('format')}, expected {FORMAT}")
        index = cls(load_fusion(gen), manifest["shared_dim"], manifest["encoder"],
                    connectivity=manifest["connectivity"], expansion_add=manifest["expansion_add"],
                    expansion_search=manifest["expansion_search"], dtype=manifest["dtype"],
                    shards=manifest.get("shards", 0))
        index.meta = {k: v for k, v in manifest.items()
                      if k not in ("format", "encoder", "fusion", "dim", "shared_dim", "count",
                                   "created", "next_key", "shards", *index.params)}
        index.hnsw.load(str(gen / "vectors.usearch"))
        disk = sqlite3.connect(gen / "catalog.sqlite")
        disk.backup(index.db)
        disk.close()
        with np.load(gen / "embeddings.npz") as e:
            index.keys = e["keys"]
            index.embeddings = Features(e["image"].astype(np.float32), e["text"].astype(np.float32),
                                        e["has_image"], e["has_text"])
        index.next_key = manifest.get("next_key", int(index.keys.max()) + 1 if len(index.keys) else 0)
        index.folder = folder
        index.generation = gen
        return index

    def part_path(self, part: type[Part]) -> Path | None:
        """Where the current generation keeps ``part`` (None: not saved, or not saved yet)."""
        path = self.generation / part.FILE if self.generation is not None else None
        return path if path is not None and path.is_file() else None

    def load_part(self, part: type[P]) -> P | None:
        """``part`` as saved with the current generation, or None."""
        return part.load(self.generation) if self.part_path(part) is not None else None


def _read_current(folder: Path) -> str | None:
    try:
        return (folder / "CURRENT").read_text().strip() or None
    except FileNotFoundError:
        return None


def _fsync_folder(folder: Path) -> None:
    """Make the renames inside ``folder`` durable (a power cut after a save keeps it)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
