"""A sequential recommender in the style of SASRec (Kang and McAuley, 2018): a causal
transformer reads a user's last purchases, oldest first, and predicts the next one.

Items enter as a projection of their fused vectors plus a learned id vector (zero for items
never bought in training, which are then their content alone); the next item is scored by a dot
product with every item's vector and trained with a full softmax over the catalogue.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import trange


class _Model(nn.Module):
    def __init__(self, vectors: np.ndarray, dim: int, length: int, layers: int, dropout: float):
        super().__init__()
        self.register_buffer("content", torch.as_tensor(np.asarray(vectors, np.float32)))
        n = len(vectors)
        self.pad = n
        self.project = nn.Linear(vectors.shape[1], dim)
        self.ids = nn.Embedding(n, dim)
        nn.init.zeros_(self.ids.weight)
        self.positions = nn.Embedding(length, dim)
        layer = nn.TransformerEncoderLayer(dim, 2, 2 * dim, dropout=dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.register_buffer("causal", torch.triu(torch.ones(length, length, dtype=torch.bool), 1))

    def items(self) -> torch.Tensor:
        return self.project(self.content) + self.ids.weight

    def forward(self, sequences: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(batch, length) item rows, left-padded with ``pad`` -> (batch, length, dim) states."""
        padded = sequences == self.pad
        x = torch.where(padded[..., None], 0.0, items[sequences.clamp(max=self.pad - 1)])
        return self.norm(self.encoder(x + self.positions.weight[None], mask=self.causal))


class SequentialRecommender:
    name = "Sequential (SASRec-style, multimodal items)"

    def __init__(self, vectors: np.ndarray, days: sp.csr_matrix, dim: int = 64, length: int = 20,
                 layers: int = 2, dropout: float = 0.2, epochs: int = 30, batch_size: int = 64,
                 lr: float = 1e-3, seed: int = 0):
        """``vectors``: fused item vectors; ``days``: users x items matrix of purchase days."""
        self.vectors, self.days = vectors, days.tocsr()
        self.dim, self.length, self.layers, self.dropout = dim, length, layers, dropout
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        self.losses: list[float] = []

    def _sequence(self, u: int) -> list[int]:
        items = self.matrix[u].indices
        d = np.asarray(self.days[u, items].todense()).ravel() if len(items) else np.zeros(0)
        return items[np.lexsort((items, d))].tolist()

    def _padded(self, items: list[int]) -> list[int]:
        items = items[-self.length:]
        return [self.model.pad] * (self.length - len(items)) + items

    def fit(self, matrix: sp.csr_matrix) -> SequentialRecommender:
        torch.manual_seed(self.seed)
        self.matrix = matrix.tocsr()
        self.model = _Model(self.vectors, self.dim, self.length, self.layers, self.dropout)
        self.sequences = [self._sequence(u) for u in range(matrix.shape[0])]
        train = [s for s in self.sequences if len(s) >= 2]
        inputs = torch.tensor([self._padded(s[:-1]) for s in train])
        targets = torch.tensor([self._padded(s[1:]) for s in train])
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=1e-4)
        self.model.train()
        for _ in trange(self.epochs, desc="training sequential model", unit="epoch"):
            total = 0.0
            for batch in torch.randperm(len(inputs)).split(self.batch_size):
                items = self.model.items()
                states = self.model(inputs[batch], items)
                keep = targets[batch] != self.model.pad
                loss = F.cross_entropy(states[keep] @ items.T, targets[batch][keep])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
            self.losses.append(total)
        self.model.eval()
        return self

    @torch.no_grad()
    def scores(self, users: np.ndarray) -> np.ndarray:
        items = self.model.items()
        seqs = torch.tensor([self._padded(self.sequences[u]) for u in users])
        return (self.model(seqs, items)[:, -1] @ items.T).numpy()
