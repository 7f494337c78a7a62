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

from ..learn.metrics import recall_at_k, reciprocal_rank, target_ranks
from ..store.vectors import Features
from .embed import Captions
from .encoders import ClipEncoder


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


def _caption_sampler(captions: Captions, n: int, gen: torch.Generator):
    """Draws one caption per product each call: a (n,) tensor of caption rows."""
    order = np.argsort(captions.owner, kind="stable")
    counts = np.bincount(captions.owner, minlength=n)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} products have no caption")
    starts = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)[:-1]]))
    counts_t, order_t = torch.from_numpy(counts), torch.from_numpy(order)
    return lambda: order_t[starts + (torch.rand(n, generator=gen) * counts_t).long()]


def train_alignment(encoder: ClipEncoder, train: Features, captions: Captions | None = None,
                    epochs: int | None = None, batch_size: int = 1024, lr: float = 2e-3,
                    trunk_lr: float = 2e-4, weight_decay: float = 0.05,
                    seed: int = 0) -> list[float]:
    """Train ``encoder``'s projections (its trained trunk stages, and the logit scale) in place;
    returns the loss per epoch.

    ``captions`` (of the rows of ``train``): each epoch pairs every photo with one of its
    product's captions drawn at random; without them, with the product's canonical text.
    ``epochs`` defaults to 30, or 10 when trunk stages are trained (each epoch costs more).
    """
    if not encoder.towers.locked:
        raise ValueError(f"{encoder.name}: alignment training needs locked towers (a LiT model)")
    if captions is None:
        keep = np.flatnonzero(train.has_text)
        captions = Captions(train.text[keep], keep)
    has_caption = np.bincount(captions.owner, minlength=len(train)) > 0
    rows = np.flatnonzero(train.has_image & has_caption)
    if len(rows) < 2:
        raise ValueError("alignment training needs at least two products with both image and text")
    captions = captions.subset(rows)
    epochs = epochs or (10 if encoder.towers.trained_stages else 30)
    img = torch.from_numpy(train.image[rows])
    txt = torch.from_numpy(captions.text)
    gen = torch.Generator().manual_seed(seed)
    draw = _caption_sampler(captions, len(rows), gen)
    model = encoder.model
    heads, trunk = encoder.trainable_parameters()
    params = heads + trunk
    groups = [{"params": heads, "lr": lr}, {"params": trunk, "lr": trunk_lr}]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(groups, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(rows) / batch_size)
    # warm up for a tenth of the steps, and for at least two (OneCycleLR needs a warm-up step)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[lr, trunk_lr], total_steps=steps,
                                                pct_start=min(0.3, max(0.1, 2 / steps)))
    loss_fn = ClipLoss()
    history = []
    try:
        for _ in trange(epochs, desc="training alignment", unit="epoch"):
            total = 0.0
            caption = draw()
            for batch in torch.randperm(len(rows), generator=gen).split(batch_size):
                loss = loss_fn(encoder.project_images_t(img[batch]),
                               encoder.project_texts_t(txt[caption[batch]]),
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
