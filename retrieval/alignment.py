"""LiT-style alignment: train the projections of a locked-tower CLIP on the catalogue's own pairs.

Towers are frozen, so their features come from the feature cache and each training step only runs
the two projections; the loss is open_clip's ClipLoss. Held-out items are never trained on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from open_clip.loss import ClipLoss
from tqdm.auto import trange

from .embed import Features
from .encoders import ClipEncoder
from .metrics import recall_at_k, reciprocal_rank, target_ranks


@dataclass
class AlignmentScores:
    """Text-to-image retrieval among held-out items: each text must find its own photo."""

    recall_at_1: float
    recall_at_10: float
    mrr: float
    n_queries: int

    def row(self) -> str:
        return (f"R@1 {self.recall_at_1:.4f}  R@10 {self.recall_at_10:.4f}  "
                f"MRR {self.mrr:.4f}  (n={self.n_queries})")


@torch.no_grad()
def text_to_image_scores(encoder: ClipEncoder, feats: Features) -> AlignmentScores:
    rows = np.flatnonzero(feats.has_image & feats.has_text)
    img = encoder.project_images_t(torch.from_numpy(feats.image[rows]))
    txt = encoder.project_texts_t(torch.from_numpy(feats.text[rows]))
    ranks = np.concatenate([
        target_ranks((txt[s:s + 1024] @ img.T).numpy(), np.arange(s, min(s + 1024, len(rows))))
        for s in range(0, len(rows), 1024)])
    return AlignmentScores(float(recall_at_k(ranks, 1).mean()), float(recall_at_k(ranks, 10).mean()),
                           float(reciprocal_rank(ranks).mean()), len(rows))


def train_alignment(encoder: ClipEncoder, train: Features, epochs: int = 30,
                    batch_size: int = 1024, lr: float = 2e-3, weight_decay: float = 0.05,
                    seed: int = 0) -> list[float]:
    """Train ``encoder``'s projections (and logit scale) in place; returns the loss per epoch."""
    if not encoder.towers.locked:
        raise ValueError(f"{encoder.name}: alignment training needs locked towers (a LiT model)")
    rows = np.flatnonzero(train.has_image & train.has_text)
    if len(rows) < 2:
        raise ValueError("alignment training needs at least two products with both image and text")
    img = torch.from_numpy(train.image[rows])
    txt = torch.from_numpy(train.text[rows])
    model = encoder.model
    params = [*model.visual.head.parameters(), *model.text.proj.parameters(), model.logit_scale]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(rows) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    loss_fn = ClipLoss()
    gen = torch.Generator().manual_seed(seed)
    history = []
    try:
        for _ in trange(epochs, desc="training alignment", unit="epoch"):
            total = 0.0
            for batch in torch.randperm(len(rows), generator=gen).split(batch_size):
                loss = loss_fn(encoder.project_images_t(img[batch]),
                               encoder.project_texts_t(txt[batch]),
                               model.logit_scale.exp().clamp(max=100))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(batch)
            history.append(total / len(rows))
    finally:
        for p in params:
            p.requires_grad_(False)
    return history
