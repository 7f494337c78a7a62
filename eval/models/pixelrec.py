"""A multimodal recommender in the spirit of PixelRec's content-based two-tower models.

An item is its id embedding plus projections of its image features, its text features and its
category, fused by attention over the modalities it has (a product without text is its image,
category and id). A user is a user embedding plus the recency-weighted mean of the items they
interacted with (``retrieval.learn.personal.recency_weights``; a plain mean without days).
Trained with BCE on observed vs. sampled items and, optionally, an InfoNCE loss that aligns each
item's image and text projections; Adam.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import trange

from retrieval import DAY_HALF_LIFE, recency_weights


@dataclass
class ItemContent:
    """Per-item inputs; rows of ``has_*`` False are ignored by the attention."""

    image: np.ndarray          # (items, d_image) tower features
    text: np.ndarray           # (items, d_text)
    category: np.ndarray       # (items,) int, 0 = unknown
    has_image: np.ndarray
    has_text: np.ndarray


class ItemTower(nn.Module):
    def __init__(self, content: ItemContent, n_categories: int, dim: int):
        super().__init__()
        self.register_buffer("image_x", torch.from_numpy(_standard(content.image)))
        self.register_buffer("text_x", torch.from_numpy(_standard(content.text)))
        self.register_buffer("category_x", torch.from_numpy(content.category.astype(np.int64)))
        self.register_buffer("mask", torch.from_numpy(np.stack(
            [np.ones(len(content.category), bool), content.has_image, content.has_text,
             content.category > 0], 1)))
        self.ids = nn.Embedding(len(content.category), dim)
        nn.init.zeros_(self.ids.weight)        # an item never trained on is its content alone
        self.image = nn.Linear(content.image.shape[1], dim)
        self.text = nn.Linear(content.text.shape[1], dim)
        self.category = nn.Embedding(n_categories + 1, dim, padding_idx=0)
        self.attention = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False))

    def modalities(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.ids(rows), self.image(self.image_x[rows]),
                            self.text(self.text_x[rows]), self.category(self.category_x[rows])], 1)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        x = self.modalities(rows)                                   # (B, 4, dim)
        logits = self.attention(x).squeeze(-1).masked_fill(~self.mask[rows], float("-inf"))
        return (logits.softmax(-1).unsqueeze(-1) * x).sum(1)

    def attention_weights(self, rows: torch.Tensor) -> torch.Tensor:
        """(B, 4) weights of id, image, text and category in each item's vector."""
        logits = self.attention(self.modalities(rows)).squeeze(-1)
        return logits.masked_fill(~self.mask[rows], float("-inf")).softmax(-1)


def _standard(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return ((x - x.mean(0)) / (x.std(0) + 1e-6)).astype(np.float32)


class MultimodalRecommender:
    name = "Multimodal two-tower (PixelRec-style)"

    def __init__(self, content: ItemContent, n_categories: int, dim: int = 64, epochs: int = 15,
                 negatives: int = 4, batch_size: int = 1024, lr: float = 1e-3,
                 weight_decay: float = 1e-5, contrastive: float = 0.1, seed: int = 0,
                 days: sp.csr_matrix | None = None, day_half_life: float = DAY_HALF_LIFE):
        """``days``: users x items matrix of interaction days (weights the history by recency)."""
        self.content, self.n_categories, self.dim = content, n_categories, dim
        self.days, self.day_half_life = days, day_half_life
        self.epochs, self.negatives, self.batch_size = epochs, negatives, batch_size
        self.lr, self.weight_decay, self.contrastive, self.seed = lr, weight_decay, contrastive, seed
        self.losses: list[float] = []

    def _users(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """User vectors: their embedding plus the weighted mean item vector of their history."""
        history = torch.sparse.mm(self.history_mean, items)   # (all users, dim)
        return self.user_ids(users) + history[users]

    def fit(self, matrix: sp.csr_matrix) -> MultimodalRecommender:
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        n_users, n_items = matrix.shape
        self.matrix = matrix.tocsr()
        self.items = ItemTower(self.content, self.n_categories, self.dim)
        self.user_ids = nn.Embedding(n_users, self.dim)
        nn.init.normal_(self.user_ids.weight, std=0.01)
        rows = self._history_weights(matrix).tocoo()
        self.history_mean = torch.sparse_coo_tensor(
            np.vstack([rows.row, rows.col]), rows.data.astype(np.float32), rows.shape,
            check_invariants=True).coalesce()
        params = [*self.items.parameters(), *self.user_ids.parameters()]
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        coo = matrix.tocoo()
        users, pos = coo.row.astype(np.int64), coo.col.astype(np.int64)
        both = np.flatnonzero(self.content.has_image & self.content.has_text)
        all_rows = torch.arange(n_items)
        self.items.train()
        for _ in trange(self.epochs, desc="training recommender", unit="epoch"):
            total = 0.0
            for batch in np.array_split(rng.permutation(len(users)),
                                        max(1, len(users) // self.batch_size)):
                u = torch.from_numpy(users[batch])
                p = torch.from_numpy(pos[batch])
                n = torch.from_numpy(rng.integers(0, n_items, (len(batch), self.negatives)))
                item_vecs = self.items(all_rows)
                user_vecs = self._users(u, item_vecs)
                pos_logit = (user_vecs * item_vecs[p]).sum(-1)
                neg_logit = torch.einsum("bd,bnd->bn", user_vecs, item_vecs[n])
                loss = (F.binary_cross_entropy_with_logits(pos_logit, torch.ones_like(pos_logit))
                        + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit)))
                if self.contrastive and len(both) > 1:
                    loss = loss + self.contrastive * self._alignment_loss(rng, both)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
            self.losses.append(total)
        self.items.eval()
        return self

    def _history_weights(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """Each user's row of weights over their items, summing to 1."""
        weights = matrix.astype(np.float32).tocsr()
        if self.days is not None:
            days = self.days.tocsr()
            for u in range(weights.shape[0]):
                start, end = weights.indptr[u], weights.indptr[u + 1]
                if end > start:
                    d = np.asarray(days[u, weights.indices[start:end]].todense()).ravel()
                    weights.data[start:end] = recency_weights(d, end - start, self.day_half_life)
        return (sp.diags(1.0 / np.maximum(np.asarray(weights.sum(1)).ravel(), 1e-12)) @ weights).tocsr()

    def _alignment_loss(self, rng, both: np.ndarray, size: int = 256) -> torch.Tensor:
        rows = torch.from_numpy(rng.choice(both, min(size, len(both)), replace=False))
        img = F.normalize(self.items.image(self.items.image_x[rows]), dim=-1)
        txt = F.normalize(self.items.text(self.items.text_x[rows]), dim=-1)
        logits = img @ txt.T / 0.1
        target = torch.arange(len(rows))
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

    @torch.no_grad()
    def scores(self, users: np.ndarray) -> np.ndarray:
        item_vecs = self.items(torch.arange(self.matrix.shape[1]))
        user_vecs = self._users(torch.as_tensor(users, dtype=torch.int64), item_vecs)
        return (user_vecs @ item_vecs.T).numpy()
