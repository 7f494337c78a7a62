"""What a shop's co-purchases teach about single products, beyond their categories.

- ``CoPurchases``: how often each pair of products was bought together, and how popular each
  product is. ``spread`` gives a product the partners of the products it looks like: an anchor
  never bought (new, or held out) inherits the co-purchases of its nearest neighbours in the
  fused space, weighted by similarity to a power.
- ``PairModel``: a type-aware two-tower model of which products go together. The anchor tower
  reads the anchor's fused vector; the candidate tower reads the candidate's fused vector plus a
  learned vector for products seen in training, masked by the candidate's product type (one mask
  per target type, as in Vasileva et al., "Learning type-aware embeddings for fashion
  compatibility", 2018), with a per-product bias and a bias per pair of types. Trained with an
  in-batch softmax on co-purchase pairs (both directions), so it scores any pair of products,
  including those never bought.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import trange

NEIGHBOURS = 100       # products that lend their co-purchases to an anchor
SIMILARITY_POWER = 4.0


@dataclass
class CoPurchases:
    """Symmetric counts of products bought together (``counts[i, j]``, rows in ``ids`` order)."""

    FILE: ClassVar[str] = "copurchases.npz"
    ids: list[str]
    counts: sp.csr_matrix

    def __post_init__(self):
        self.row = {pid: i for i, pid in enumerate(self.ids)}
        degree = np.asarray(self.counts.sum(1)).ravel()
        self.popularity = np.log1p(degree) / max(float(np.log1p(degree.max(initial=0))), 1e-12)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> CoPurchases:
        pairs = [(a, b) for a, b in pairs if a != b]
        ids = sorted({x for pair in pairs for x in pair})
        row = {pid: i for i, pid in enumerate(ids)}
        a = np.array([row[x] for x, _ in pairs], dtype=np.int64)
        b = np.array([row[y] for _, y in pairs], dtype=np.int64)
        counts = sp.csr_matrix((np.ones(2 * len(a), np.float32), (np.r_[a, b], np.r_[b, a])),
                               shape=(len(ids), len(ids)))
        return cls(ids, counts)

    def knows(self, product_id: str) -> bool:
        return product_id in self.row

    def popularity_of(self, product_ids: Sequence[str]) -> np.ndarray:
        """Log-scaled co-purchase count in [0, 1] (0 for products never bought)."""
        return np.array([self.popularity[self.row[p]] if p in self.row else 0.0
                         for p in product_ids], dtype=np.float32)

    def spread(self, neighbours: Sequence[str], similarities: Sequence[float],
               k: int = NEIGHBOURS, power: float = SIMILARITY_POWER) -> dict[str, float]:
        """Partners of the ``k`` most similar ``neighbours`` that were bought (given most similar
        first), each scored by the neighbours' similarity**power times how often it was bought
        with them, divided by the best score (so in [0, 1])."""
        rows, weights = [], []
        for pid, s in zip(neighbours, similarities):
            if pid in self.row and s > 0:
                rows.append(self.row[pid])
                weights.append(float(s) ** power)
                if len(rows) == k:
                    break
        if not rows:
            return {}
        scores = self.counts[rows].T @ np.asarray(weights, dtype=np.float32)
        top = float(scores.max())
        return {self.ids[i]: float(scores[i] / top) for i in np.flatnonzero(scores)}

    def save(self, folder: Path) -> None:
        with open(Path(folder) / self.FILE, "wb") as fh:
            np.savez_compressed(fh, ids=np.array(self.ids), indptr=self.counts.indptr,
                                indices=self.counts.indices, data=self.counts.data)

    @classmethod
    def load(cls, folder: Path) -> CoPurchases:
        with np.load(Path(folder) / cls.FILE) as f:
            ids = f["ids"].tolist()
            counts = sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=(len(ids), len(ids)))
        return cls(ids, counts)


class PairModel(nn.Module):
    """``score(anchor, candidate)``: how well a candidate goes with an anchor (see the module
    docstring). Product types and ids unknown to the model use type 0 and no learned vector."""

    FILE: ClassVar[str] = "pair_model.pt"

    def __init__(self, dim: int, types: Sequence[str], ids: Sequence[str], hidden: int = 256,
                 temperature: float = 20.0):
        super().__init__()
        self.types, self.ids = ["", *sorted(set(types) - {""})], list(ids)
        self.type_row = {t: i for i, t in enumerate(self.types)}
        self.id_row = {pid: i + 1 for i, pid in enumerate(self.ids)}
        self.config = {"dim": dim, "hidden": hidden, "temperature": temperature}
        n_types = len(self.types)
        self.anchor_tower = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.candidate_tower = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(),
                                             nn.Linear(hidden, hidden))
        self.product_vectors = nn.Embedding(len(self.ids) + 1, hidden, padding_idx=0)
        self.product_bias = nn.Embedding(len(self.ids) + 1, 1, padding_idx=0)
        self.type_masks = nn.Embedding(n_types, hidden)
        self.type_pair_bias = nn.Embedding(n_types * n_types, 1)
        for table in (self.product_vectors, self.product_bias, self.type_pair_bias):
            nn.init.zeros_(table.weight)
        nn.init.ones_(self.type_masks.weight)

    def type_rows(self, types: Sequence[str | None]) -> torch.Tensor:
        return torch.tensor([self.type_row.get(t or "", 0) for t in types], dtype=torch.int64)

    def id_rows(self, ids: Sequence[str]) -> torch.Tensor:
        return torch.tensor([self.id_row.get(p, 0) for p in ids], dtype=torch.int64)

    def anchors(self, vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.anchor_tower(vectors), dim=-1)

    def candidates(self, vectors: torch.Tensor, types: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        g = self.candidate_tower(vectors) + self.product_vectors(ids)
        return F.normalize(g, dim=-1) * self.type_masks(types)

    def logits(self, anchor_vectors, anchor_types, candidate_vectors, candidate_types,
               candidate_ids) -> torch.Tensor:
        """(anchors x candidates) logits."""
        pair_bias = self.type_pair_bias(anchor_types[:, None] * len(self.types) + candidate_types[None, :])
        return (self.anchors(anchor_vectors) @ self.candidates(
            candidate_vectors, candidate_types, candidate_ids).T * self.config["temperature"]
            + self.product_bias(candidate_ids).T + pair_bias.squeeze(-1))

    @torch.no_grad()
    def score(self, anchor_vector: np.ndarray, anchor_type: str | None, vectors: np.ndarray,
              types: Sequence[str | None], ids: Sequence[str]) -> np.ndarray:
        """Scores of candidates (rows of ``vectors``) for one anchor, in logit units / temperature."""
        logits = self.logits(torch.as_tensor(np.asarray(anchor_vector, np.float32)[None]),
                             self.type_rows([anchor_type]), torch.as_tensor(np.asarray(vectors, np.float32)),
                             self.type_rows(types), self.id_rows(ids))
        return (logits[0] / self.config["temperature"]).numpy()

    @classmethod
    def fit(cls, ids: Sequence[str], vectors: np.ndarray, types: Sequence[str | None],
            pairs: Iterable[tuple[str, str]], epochs: int = 6, batch_size: int = 1024,
            lr: float = 2e-3, seed: int = 0) -> PairModel:
        """Trained on co-purchase ``pairs`` of products in ``ids`` (rows of ``vectors``; pairs
        with an unknown product, or whose partner has no type, are left out)."""
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        row = {pid: i for i, pid in enumerate(ids)}
        types = [t or "" for t in types]
        edges = np.array([(row[a], row[b]) for x, y in pairs if x in row and y in row
                          for a, b in ((x, y), (y, x)) if types[row[b]]], dtype=np.int64).reshape(-1, 2)
        bought = sorted({ids[i] for i in np.unique(edges)})
        model = cls(vectors.shape[1], types, bought)
        x = torch.as_tensor(np.asarray(vectors, np.float32))
        t = model.type_rows(types)
        p = model.id_rows(ids)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
        model.losses = []
        for _ in trange(epochs, desc="training pair model", unit="epoch"):
            total = 0.0
            edges = edges[rng.permutation(len(edges))]
            for start in range(0, len(edges), batch_size):
                batch = torch.as_tensor(edges[start:start + batch_size])
                a, c = batch[:, 0], batch[:, 1]
                logits = model.logits(x[a], t[a], x[c], t[c], p[c])
                loss = F.cross_entropy(logits, torch.arange(len(a)))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
            model.losses.append(total)
        return model.eval()

    def save(self, folder: Path) -> None:
        torch.save({"config": self.config, "types": self.types[1:], "ids": self.ids,
                    "state": self.state_dict()}, Path(folder) / self.FILE)

    @classmethod
    def load(cls, folder: Path) -> PairModel:
        saved = torch.load(Path(folder) / cls.FILE, weights_only=True)
        model = cls(saved["config"]["dim"], saved["types"], saved["ids"], saved["config"]["hidden"],
                    saved["config"]["temperature"])
        model.load_state_dict(saved["state"])
        return model.eval()
