"""Which kind of product a photo shows: a softmax head over shared-space photo embeddings that
names an article type of the catalogue. Photos from elsewhere (flat lays, packshots) land near
the wrong neighbours far more often than they are misnamed; a search can keep the named kind."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class KindClassifier:
    """``kinds[j]`` is named with probability softmax(standardised photo @ weight.T + bias)[j]."""

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
