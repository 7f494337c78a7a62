"""The catalogue build's towers as a Ray Data pipeline (``build --engine ray``).

Photo decoding and each tower run in ``map_batches`` on a pool of actors that load the encoder
once (``TowerActor``); the driver streams their batches into the same feature cache as the local
build, so every later stage (alignment, fusion, index, clusters) is the local build's own and
the index holds the same vectors. Without an address, a local Ray is started on this machine's
CPUs; with one (``ray://HOST:10001`` or ``auto``) the pool runs on that cluster, one GPU per
actor where the cluster has GPUs (``gpus=1``). The photos' paths must be readable by the workers
(a shared folder or the same layout on every node).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from ..store.shards import connect
from .embed import encode_batch
from .encoders import ClipEncoder


class TowerActor:
    """One Ray actor: the encoder's towers (rebuilt once from ``create_encoder``'s arguments and
    checked against the driver's), a batch of (key, source) rows in, the rows out with their
    vector, or with an empty vector and the reason when a photo could not be read."""

    def __init__(self, created_with: dict, identity: str, tower: str, threads: int, gpu: bool = False):
        import torch
        from PIL import Image

        from .encoders import create_encoder

        torch.set_num_threads(threads)
        encoder = create_encoder(**created_with)
        found = encoder.towers.identity(tower)
        if found != identity:
            raise RuntimeError(f"this worker's {tower} tower ({found}) is not the driver's ({identity}): "
                               f"install the same packages and weights on every node")
        if gpu:
            encoder.model.cuda()           # the towers move their inputs to the model's device
        self.encoder, self.tower = encoder, tower
        probe = encoder.text_tower(["probe"]) if tower == "text" else encoder.image_tower(
            [Image.new("RGB", (8, 8), "white")])
        self.dim = probe.shape[1]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = [str(k) for k in batch["key"]]
        vectors, failures = encode_batch(self.encoder, self.tower, list(zip(keys, map(str, batch["source"]))))
        out = np.zeros((len(keys), self.dim), np.float32)
        for i, key in enumerate(keys):
            if key in vectors:
                out[i] = vectors[key]
        return {"key": np.array(keys, dtype=object), "vector": out,
                "error": np.array([failures.get(k, "") for k in keys], dtype=object)}


class RayEngine:
    """``Engine`` on Ray Data: ``workers`` actors of ``cpus`` CPUs and ``gpus`` GPUs each
    (default: as many actors as the cluster's CPUs allow), ``batch_size`` rows per actor call."""

    def __init__(self, address: str | None = None, workers: int | None = None, cpus: int = 1,
                 gpus: float = 0):
        import ray

        logging.getLogger("ray.data").setLevel(logging.WARNING)   # the build shows its own progress
        connect(address)
        total = int(ray.cluster_resources().get("CPU", 1))
        self.cpus = cpus
        self.workers = workers or max(1, total // max(cpus, 1))
        self.gpus = gpus
        ray.data.DataContext.get_current().enable_progress_bars = False

    def run(self, encoder: ClipEncoder, tower: str, sources: dict[str, str], batch_size: int
            ) -> Iterator[tuple[dict[str, np.ndarray], dict[str, str]]]:
        import ray

        if not encoder.created_with:
            raise ValueError(f"{encoder.name}: the Ray engine rebuilds the towers on its workers and "
                             f"needs an encoder made by create_encoder")
        items = [{"key": k, "source": s} for k, s in sources.items()]
        # a block per batch, at least one per actor, at most 32 per actor
        blocks = min(max(len(items) // batch_size, self.workers), 32 * self.workers, len(items))
        ds = ray.data.from_items(items, override_num_blocks=blocks)
        ds = ds.map_batches(TowerActor, batch_size=batch_size, batch_format="numpy",
                            fn_constructor_kwargs={
                                "created_with": encoder.created_with, "tower": tower,
                                "identity": encoder.towers.identity(tower),
                                "threads": self.cpus, "gpu": self.gpus > 0},
                            concurrency=self.workers, num_cpus=self.cpus, num_gpus=self.gpus)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            keys, errors = [str(k) for k in batch["key"]], batch["error"]
            yield ({k: v for k, v, e in zip(keys, batch["vector"], errors) if not e},
                   {k: str(e) for k, e in zip(keys, errors) if e})
