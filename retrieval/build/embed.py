"""Turn products into tower features (through the feature cache) and shared-space embeddings."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from ..ingest import ImageError, IngestReport, open_rgb
from ..store.products import Product
from ..store.vectors import Features
from .cache import FeatureCache, content_key
from .encoders import ClipEncoder


@dataclass
class Captions:
    """Text-tower features of several captions per product: caption ``j`` describes product row
    ``owner[j]``."""

    text: np.ndarray
    owner: np.ndarray

    def subset(self, rows) -> Captions:
        """The captions of ``rows`` (row numbers), renumbered to positions in ``rows``."""
        position = np.full(int(max(self.owner.max(initial=-1), np.max(rows, initial=-1))) + 1, -1)
        position[np.asarray(rows)] = np.arange(len(rows))
        keep = position[self.owner] >= 0
        return Captions(self.text[keep], position[self.owner[keep]])


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def encode_batch(encoder: ClipEncoder, tower: str, items: Sequence[tuple[str, str]]
                 ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """One batch of (key, source) through a tower: ``tower="image"`` decodes each source path
    (a photo that fails is a failure with its reason), ``"text"`` takes the texts as they are.
    Returns (vectors, failures) by key."""
    failures: dict[str, str] = {}
    if tower == "image":
        inputs = []
        for key, path in items:
            try:
                inputs.append((key, open_rgb(path)[0]))
            except ImageError as exc:
                failures[key] = str(exc)
        fn = encoder.image_tower
    else:
        inputs, fn = list(items), encoder.text_tower
    vectors = dict(zip([k for k, _ in inputs], fn([x for _, x in inputs]))) if inputs else {}
    return vectors, failures


class Engine(Protocol):
    """Where the towers run: this process (``LocalEngine``) or a Ray cluster
    (``retrieval.raydata.RayEngine``)."""

    def run(self, encoder: ClipEncoder, tower: str, sources: dict[str, str], batch_size: int
            ) -> Iterator[tuple[dict[str, np.ndarray], dict[str, str]]]:
        """(vectors, failures) by key, batch by batch, for ``sources`` (image paths or texts)."""
        ...


class LocalEngine:
    """The towers in this process, one batch at a time (only one batch of photos is held)."""

    def run(self, encoder: ClipEncoder, tower: str, sources: dict[str, str], batch_size: int
            ) -> Iterator[tuple[dict[str, np.ndarray], dict[str, str]]]:
        for chunk in _batches(list(sources.items()), batch_size):
            yield encode_batch(encoder, tower, chunk)


def _encode_missing(encoder: ClipEncoder, tower: str, sources: dict[str, str], cache: FeatureCache,
                    engine: Engine, batch_size: int, desc: str
                    ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Vectors for the keys of ``sources``: from the cache, else encoded by ``engine`` (each
    batch is cached as it arrives, so an interrupted build resumes). Returns (vectors, failures)."""
    identity = encoder.towers.identity(tower)
    found = cache.get(identity, sources)
    todo = {k: s for k, s in sources.items() if k not in found}
    if tower == "text":         # a batch is padded to its longest text: batch like lengths together
        todo = dict(sorted(todo.items(), key=lambda item: len(item[1])))
    failed: dict[str, str] = {}
    with tqdm(total=len(todo), desc=desc, unit="item", mininterval=1.0, disable=not todo) as bar:
        for vectors, failures in (engine.run(encoder, tower, todo, batch_size) if todo else ()):
            if vectors:
                cache.put(identity, vectors)
                found.update(vectors)
            failed.update(failures)
            bar.update(len(vectors) + len(failures))
    return found, failed


def tower_features(products: Sequence[Product], encoder: ClipEncoder,
                   cache: FeatureCache | None = None, batch_size: int = 64,
                   report: IngestReport | None = None, engine: Engine | None = None) -> Features:
    """Tower features of every product, encoding only what the cache lacks (with progress bars),
    on ``engine`` (default: this process).

    Images are keyed by the hash of their bytes and decoded only when their features are not
    cached; one that fails to decode is reported (when ``report`` is given) and treated as missing.
    """
    cache = cache or FeatureCache()
    engine = engine or LocalEngine()
    n = len(products)
    image_keys: list[str | None] = [None] * n
    image_paths: dict[str, str] = {}
    for i, p in enumerate(tqdm(products, desc="hashing images", unit="img", mininterval=1.0,
                               disable=n < 1000)):
        if not p.image_path:
            continue
        try:
            key = content_key(Path(p.image_path).read_bytes())
        except OSError as exc:
            if report is not None:
                report.add(p.image_path, None, p.id, "image", f"unreadable image ({exc})",
                           "degraded")
            continue
        image_paths.setdefault(key, p.image_path)
        image_keys[i] = key

    texts = [p.text for p in products]
    text_keys = [content_key(t) if t.strip() else None for t in texts]
    text_of = {k: t for k, t in zip(text_keys, texts) if k}

    img_vecs, failed = _encode_missing(encoder, "image", image_paths, cache, engine, batch_size,
                                       "encoding images")
    if report is not None:
        for p, key in zip(products, image_keys):
            if key in failed:
                report.add(p.image_path, None, p.id, "image", failed[key], "degraded")
    txt_vecs, _ = _encode_missing(encoder, "text", text_of, cache, engine, batch_size, "encoding texts")

    def stack(keys, vecs):
        dim = len(next(iter(vecs.values()))) if vecs else 0
        out = np.zeros((n, dim), dtype=np.float32)
        present = np.array([k is not None and k in vecs for k in keys], dtype=bool)
        for i in np.flatnonzero(present):
            out[i] = vecs[keys[i]]
        return out, present

    image, has_image = stack(image_keys, img_vecs)
    text, has_text = stack(text_keys, txt_vecs)
    return Features(image, text, has_image, has_text)


def text_features(texts: Sequence[str], encoder: ClipEncoder, cache: FeatureCache | None = None,
                  batch_size: int = 256, desc: str = "encoding texts",
                  engine: Engine | None = None) -> np.ndarray:
    """Text-tower features of ``texts`` (non-empty), through the cache."""
    keys = [content_key(t) for t in texts]
    vecs, _ = _encode_missing(encoder, "text", dict(zip(keys, texts)), cache or FeatureCache(),
                              engine or LocalEngine(), batch_size, desc)
    if not keys:
        return np.zeros((0, 0), np.float32)
    return np.stack([vecs[k] for k in keys]).astype(np.float32)


def caption_features(products: Sequence[Product], encoder: ClipEncoder,
                     cache: FeatureCache | None = None, engine: Engine | None = None,
                     category_path: bool = True) -> Captions:
    """Text-tower features of every product's ``captions`` (through the cache; the kind without
    its category path when not ``category_path``)."""
    texts, owner = [], []
    for row, p in enumerate(products):
        for caption in p.captions_with(category_path):
            texts.append(caption)
            owner.append(row)
    return Captions(text_features(texts, encoder, cache, desc="encoding captions", engine=engine),
                    np.array(owner, dtype=np.int64))


def project(features: Features, encoder: ClipEncoder) -> Features:
    """Shared-space, L2-normalised embeddings from tower features (missing rows stay zero)."""
    n, dim = len(features), encoder.embed_dim
    image = (encoder.project_images(features.image) if features.image.shape[1]
             else np.zeros((n, dim), np.float32))
    text = (encoder.project_texts(features.text) if features.text.shape[1]
            else np.zeros((n, dim), np.float32))
    image[~features.has_image] = 0
    text[~features.has_text] = 0
    return Features(image, text, features.has_image.copy(), features.has_text.copy())


def embed_products(products: Sequence[Product], encoder: ClipEncoder,
                   cache: FeatureCache | None = None, report: IngestReport | None = None) -> Features:
    """Shared-space image and text embeddings of ``products``."""
    return project(tower_features(products, encoder, cache, report=report), encoder)
