"""Turn products into tower features (through the feature cache) and shared-space embeddings."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .cache import FeatureCache, content_key
from .encoders import ClipEncoder
from .ingest import ImageError, IngestReport, open_rgb
from .products import Product


@dataclass
class Features:
    """Per-product image and text vectors (rows of zeros where a modality is missing)."""

    image: np.ndarray
    text: np.ndarray
    has_image: np.ndarray
    has_text: np.ndarray

    def __len__(self) -> int:
        return len(self.has_image)

    def subset(self, rows) -> Features:
        return Features(self.image[rows], self.text[rows], self.has_image[rows], self.has_text[rows])


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


def _encode_missing(tower: str, keys: list[str], load, fn, cache: FeatureCache,
                    batch_size: int, desc: str) -> dict[str, np.ndarray]:
    """Vectors for ``keys``: from the cache, else ``fn`` over ``load(key)`` batch by batch (so
    only one batch of inputs is ever held). A key whose ``load`` returns None gets no vector."""
    found = cache.get(tower, keys)
    todo = [k for k in dict.fromkeys(keys) if k not in found]
    with tqdm(total=len(todo), desc=desc, unit="item", mininterval=1.0,
              disable=not todo) as bar:
        for chunk in _batches(todo, batch_size):
            loaded = [(k, load(k)) for k in chunk]
            loaded = [(k, x) for k, x in loaded if x is not None]
            if loaded:
                new = dict(zip([k for k, _ in loaded], fn([x for _, x in loaded])))
                cache.put(tower, new)
                found.update(new)
            bar.update(len(chunk))
    return found


def tower_features(products: Sequence[Product], encoder: ClipEncoder,
                   cache: FeatureCache | None = None, batch_size: int = 64,
                   report: IngestReport | None = None) -> Features:
    """Tower features of every product, encoding only what the cache lacks (with progress bars).

    Images are keyed by the hash of their bytes and decoded only when their features are not
    cached; one that fails to decode is reported (when ``report`` is given) and treated as missing.
    """
    cache = cache or FeatureCache()
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

    def load_image(key):
        try:
            return open_rgb(image_paths[key])[0]
        except ImageError as exc:
            if report is not None:
                for p, k in zip(products, image_keys):
                    if k == key:
                        report.add(p.image_path, None, p.id, "image", str(exc), "degraded")
            return None

    texts = [p.text for p in products]
    text_keys = [content_key(t) if t.strip() else None for t in texts]
    text_of = {k: t for k, t in zip(text_keys, texts) if k}

    img_vecs = _encode_missing(encoder.towers.image_identity, [k for k in image_keys if k],
                               load_image, encoder.image_tower, cache, batch_size,
                               "encoding images")
    txt_vecs = _encode_missing(encoder.towers.text_identity, [k for k in text_keys if k],
                               text_of.get, encoder.text_tower, cache, batch_size, "encoding texts")

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
                  batch_size: int = 256, desc: str = "encoding texts") -> np.ndarray:
    """Text-tower features of ``texts`` (non-empty), through the cache."""
    keys = [content_key(t) for t in texts]
    vecs = _encode_missing(encoder.towers.text_identity, keys, dict(zip(keys, texts)).get,
                           encoder.text_tower, cache or FeatureCache(), batch_size, desc)
    if not keys:
        return np.zeros((0, 0), np.float32)
    return np.stack([vecs[k] for k in keys]).astype(np.float32)


def caption_features(products: Sequence[Product], encoder: ClipEncoder,
                     cache: FeatureCache | None = None) -> Captions:
    """Text-tower features of every product's ``captions`` (through the cache)."""
    texts, owner = [], []
    for row, p in enumerate(products):
        for caption in p.captions:
            texts.append(caption)
            owner.append(row)
    return Captions(text_features(texts, encoder, cache, desc="encoding captions"),
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
