"""Which kind of product a photo shows: a softmax head over shared-space photo embeddings that
names an article type of the catalogue (``retrieval.query.photo`` puts that kind first)."""
from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..ingest import IngestReport
from ..store.products import Product
from .cache import FeatureCache
from .embed import project, tower_features
from .encoders import ClipEncoder


@dataclass
class KindPhotos:
    """Photos of another shop's products (shared-space rows) with the kinds of ours each may be
    named: what teaches the classifier photos unlike the catalogue's own (flat lays, packshots)."""

    photos: np.ndarray
    labels: list[list[str]]

    @classmethod
    def of(cls, products: Sequence[Product], kind_map: dict[str, set[str]], encoder: ClipEncoder,
           cache: FeatureCache | None = None, report: IngestReport | None = None) -> KindPhotos:
        """The photos of ``products`` whose type ``kind_map`` maps to ours, in ``encoder``'s
        shared space (through the feature cache; unreadable photos go into ``report``)."""
        mapped = [p for p in products if p.image_path and kind_map.get(p.article_type or "")]
        emb = project(tower_features(mapped, encoder, cache, report=report), encoder)
        kept = np.flatnonzero(emb.has_image)
        return cls(emb.image[kept], [sorted(kind_map[mapped[i].article_type]) for i in kept])


def read_kind_map(path: Path) -> dict[str, set[str]]:
    """A CSV of two columns: another shop's product type, and the article types of ours that are
    the same kind of product, separated by ``;`` (header row first)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    table = {}
    for line, row in enumerate(rows, 2):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise ValueError(f"{path}, row {line}: expected 'their type,our type;our type'")
        table[row[0].strip()] = {k.strip() for k in row[1].split(";") if k.strip()}
    return table


@dataclass
class KindClassifier:
    """``kinds[j]`` is named with probability softmax(standardised photo @ weight.T + bias)[j]."""

    FILE: ClassVar[str] = "kinds.npz"
    kinds: list[str]
    weight: np.ndarray          # (kinds, dim)
    bias: np.ndarray            # (kinds,)
    mean: np.ndarray            # (dim,) standardisation of the inputs
    scale: np.ndarray           # (dim,)

    @classmethod
    def fit(cls, photos: np.ndarray, labels: Sequence[Sequence[str]], epochs: int = 300,
            lr: float = 3e-3, weight_decay: float = 1e-4) -> KindClassifier:
        """Trained on ``photos`` (rows of embeddings); ``labels[i]``: the kinds photo ``i`` may be
        named (one for a catalogue product; several where another shop's type maps to more than
        one of ours, each then weighted equally)."""
        kinds = sorted({k for ks in labels for k in ks})
        if not kinds:
            raise ValueError("no labelled photos to learn kinds from")
        column = {k: j for j, k in enumerate(kinds)}
        target = np.zeros((len(labels), len(kinds)), np.float32)
        for i, ks in enumerate(labels):
            target[i, [column[k] for k in ks]] = 1 / len(ks)
        x = torch.from_numpy(np.asarray(photos, np.float32))
        mean, scale = x.mean(0), x.std(0) + 1e-6
        x = (x - mean) / scale
        y = torch.from_numpy(target)
        head = torch.nn.Linear(x.shape[1], len(kinds))
        with torch.no_grad():           # the loss is convex: from zero, kinds no photo tells
            head.weight.zero_()         # apart stay equally likely
            head.bias.zero_()
        opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
        for _ in range(epochs):         # full batch: a catalogue's photos fit in memory
            opt.zero_grad()
            loss = -(y * torch.log_softmax(head(x), 1)).sum(1).mean()
            loss.backward()
            opt.step()
        return cls(kinds, head.weight.detach().numpy().copy(), head.bias.detach().numpy().copy(),
                   mean.numpy(), scale.numpy())

    def probabilities(self, photos: np.ndarray) -> np.ndarray:
        """(photos x kinds) probabilities."""
        logits = ((np.atleast_2d(photos) - self.mean) / self.scale) @ self.weight.T + self.bias
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)

    def predict(self, photos: np.ndarray) -> list[tuple[str, float]]:
        """The most probable kind of each photo, with its probability."""
        p = self.probabilities(photos)
        best = p.argmax(1)
        return [(self.kinds[j], float(p[i, j])) for i, j in enumerate(best)]

    @classmethod
    def for_catalogue(cls, photos: np.ndarray, has_image: np.ndarray, products: Sequence[Product],
                      more: KindPhotos | None = None) -> KindClassifier | None:
        """Learnt from a catalogue's own photos (shared-space rows) and article types, and from
        ``more`` labelled photos of other shops; None when fewer than two kinds have photos."""
        rows = [r for r, p in enumerate(products) if has_image[r] and p.article_type]
        labels = [[products[r].article_type] for r in rows]
        known = {k for (k,) in labels}
        if len(known) < 2:
            return None
        if more is None:
            return cls.fit(photos[rows], labels)
        kept = [i for i, ks in enumerate(more.labels) if set(ks) & known]
        return cls.fit(np.concatenate([photos[rows], more.photos[kept]]),
                       labels + [sorted(set(more.labels[i]) & known) for i in kept])

    def save(self, folder: Path) -> None:
        with open(Path(folder) / self.FILE, "wb") as f:
            np.savez(f, kinds=np.array(self.kinds), weight=self.weight, bias=self.bias,
                     mean=self.mean, scale=self.scale)

    @classmethod
    def load(cls, folder: Path) -> KindClassifier:
        with np.load(Path(folder) / cls.FILE) as data:
            return cls([str(k) for k in data["kinds"]], data["weight"], data["bias"],
                       data["mean"], data["scale"])
