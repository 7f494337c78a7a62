"""An HNSW index split over Ray actors, for catalogues larger than one process.

``ShardedVectors`` stands where ``ProductIndex`` keeps its one ``usearch.Index``: ``shards``
USearch indexes, each held by a Ray actor (``VectorShard``), a product's vector in shard
``key % shards``. Adds and removes go to the owning shard; a search asks every shard for its top
``count`` at once and merges them by distance, so the merged top ``count`` holds every vector
one index over the same vectors would rank there (up to each shard's HNSW recall; a shard no
larger than its search beam, ``expansion_search``, is searched exactly). The shards
save their files into the index's generation folder (``vectors.usearch.shard-I``) before it is
made current, so a set of shards changes atomically; the folder must be reachable from the
actors' nodes (a shared disk on a cluster).

The actors are started on ``ray.init(address)``: ``FASHION_RAY_ADDRESS`` names a cluster, else a
local Ray is started on this machine.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
from usearch.index import Index, MetricKind
from usearch.index import search as exact_search


class Hit(NamedTuple):
    key: int
    distance: float


class VectorShard:
    """One shard: a USearch index in a Ray actor."""

    def __init__(self, ndim: int, metric: str, params: dict):
        self.index = Index(ndim=ndim, metric=metric, **params)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add(keys, vectors)

    def remove(self, keys: np.ndarray) -> int:
        return int(self.index.remove(keys))

    def search(self, vector: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.index) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        # a shard no larger than the search beam gains nothing from the graph: searched exactly
        exact = len(self.index) <= self.index.expansion_search
        matches = self.index.search(vector, min(count, len(self.index)), exact=exact)
        return np.asarray(matches.keys, np.int64), np.asarray(matches.distances, np.float32)

    def get(self, keys: np.ndarray) -> np.ndarray:
        return np.asarray(self.index.get(keys), np.float32).reshape(len(keys), -1)

    def exact(self, vector: np.ndarray, keys: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` nearest of ``keys`` (this shard's), by exact search."""
        if len(keys) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        matches = exact_search(self.get(keys), vector, min(count, len(keys)), MetricKind.Cos, exact=True)
        return keys[np.asarray(matches.keys, np.int64)], np.asarray(matches.distances, np.float32)

    def stats(self) -> dict:
        return {"count": len(self.index), "memory_bytes": int(self.index.memory_usage)}

    def save(self, path: str) -> None:
        self.index.save(path)

    def load(self, path: str) -> int:
        self.index.load(path)
        return len(self.index)


def connect(address: str | None = None) -> None:
    """Ray for the shards and the build: ``address`` (or ``FASHION_RAY_ADDRESS``), else a local
    Ray on this machine's CPUs (left running for the process)."""
    import ray

    if not ray.is_initialized():
        address = address or os.environ.get("FASHION_RAY_ADDRESS")
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, ignore_reinit_error=True)


class ShardedVectors:
    """The part of ``usearch.Index``'s interface ``ProductIndex`` uses, over ``shards`` Ray
    actors of ``cpus`` CPUs each (0: they do not hold a CPU from other Ray work)."""

    def __init__(self, shards: int, ndim: int, metric: str = "cos", cpus: float = 0, **params):
        import ray

        connect()
        actor = ray.remote(num_cpus=cpus)(VectorShard)
        self.actors = [actor.remote(ndim, metric, params) for _ in range(shards)]
        self.ndim, self.count = ndim, 0

    def __len__(self) -> int:
        return self.count

    def _owners(self, keys: np.ndarray) -> list[np.ndarray]:
        """Positions in ``keys`` of each shard's keys."""
        return [np.flatnonzero(keys % len(self.actors) == s) for s in range(len(self.actors))]

    def add(self, keys, vectors, log: bool | str = False) -> None:
        import ray

        keys = np.asarray(keys, np.int64)
        vectors = np.asarray(vectors, np.float32).reshape(len(keys), self.ndim)
        ray.get([a.add.remote(keys[rows], vectors[rows])
                 for a, rows in zip(self.actors, self._owners(keys)) if len(rows)])
        self.count += len(keys)

    def remove(self, keys) -> int:
        import ray

        keys = np.atleast_1d(np.asarray(keys, np.int64))
        removed = sum(ray.get([a.remove.remote(keys[rows])
                               for a, rows in zip(self.actors, self._owners(keys)) if len(rows)]))
        self.count -= removed
        return removed

    def search(self, vector, count: int) -> list[Hit]:
        """The ``count`` nearest over all shards (each shard searched at once, then merged)."""
        import ray

        vector = np.asarray(vector, np.float32).reshape(-1)
        return _merged(ray.get([a.search.remote(vector, count) for a in self.actors]), count)

    def exact(self, vector, keys, count: int) -> list[Hit]:
        """The ``count`` nearest of ``keys`` by exact search, each shard over its own keys (no
        vector leaves its shard)."""
        import ray

        vector = np.asarray(vector, np.float32).reshape(-1)
        keys = np.asarray(keys, np.int64)
        return _merged(ray.get([a.exact.remote(vector, keys[rows], count)
                                for a, rows in zip(self.actors, self._owners(keys))]), count)

    def get(self, keys) -> np.ndarray:
        import ray

        single = np.ndim(keys) == 0
        keys = np.atleast_1d(np.asarray(keys, np.int64))
        out = np.zeros((len(keys), self.ndim), np.float32)
        owners = [(a, rows) for a, rows in zip(self.actors, self._owners(keys)) if len(rows)]
        for (_, rows), vectors in zip(owners, ray.get([a.get.remote(keys[rows]) for a, rows in owners])):
            out[rows] = vectors
        return out[0] if single else out

    def stats(self) -> list[dict]:
        """Per shard: vectors held and the index's memory."""
        import ray

        return ray.get([a.stats.remote() for a in self.actors])

    def save(self, path: str) -> None:
        import ray

        ray.get([a.save.remote(f"{path}.shard-{s}") for s, a in enumerate(self.actors)])

    def load(self, path: str) -> None:
        import ray

        self.count = sum(ray.get([a.load.remote(f"{path}.shard-{s}") for s, a in enumerate(self.actors)]))


def _merged(found: list[tuple[np.ndarray, np.ndarray]], count: int) -> list[Hit]:
    """The ``count`` nearest of the shards' (keys, distances)."""
    keys = np.concatenate([k for k, _ in found])
    distances = np.concatenate([d for _, d in found])
    best = np.argsort(distances, kind="stable")[:count]
    return [Hit(int(keys[i]), float(distances[i])) for i in best]
