"""Fitting the fusion map: the statistics of every strategy, and the projection's training on pairs
of catalogue items that share article type and colour (open_clip's ClipLoss)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from tqdm.auto import trange

from ..store.fusion import Fusion, ProjectionFusion, create_fusion, filled
from ..store.products import Product
from ..store.vectors import Features


def item_labels(products: Sequence[Product]) -> list[str]:
    """The grouping the projection fusion learns from: article type and colour."""
    return [f"{p.article_type or '?'}|{p.colour or '?'}" for p in products]


def fit_fusion(name: str, emb: Features, labels: Sequence[str] | None = None, *, epochs: int = 8,
               batch_size: int = 512, seed: int = 0) -> Fusion:
    """The fusion ``name`` fitted on catalogue embeddings (``labels``: ``item_labels``, needed by
    the projection)."""
    fusion = create_fusion(name).fit(emb)
    if isinstance(fusion, ProjectionFusion):
        if labels is None:
            raise ValueError("projection fusion needs item labels (article type and colour)")
        fusion.weight = train_projection(fusion, emb, labels, epochs, batch_size, seed)
    return fusion


def train_projection(fusion: ProjectionFusion, emb: Features, labels: Sequence[str], epochs: int,
                     batch_size: int, seed: int) -> np.ndarray:
    """The projection's weight: a batch's items against partners of the same label, with modality
    dropout so that the query side's ``[q; q]`` is seen in training."""
    image, text = filled(emb)
    x_img = torch.from_numpy(fusion._standard(image, "image"))
    x_txt = torch.from_numpy(fusion._standard(text, "text"))
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    members = [np.array(groups[label]) for label in labels]
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    layer = torch.nn.Linear(x_img.shape[1] * 2, fusion.out_dim, bias=False)
    scale = torch.nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
    opt = torch.optim.AdamW([*layer.parameters(), scale], lr=2e-3, weight_decay=0.01)
    loss_fn = ClipLoss()

    def view(rows):
        img, txt = x_img[rows].clone(), x_txt[rows].clone()
        drop = torch.rand(len(rows), generator=gen)
        img[drop < 0.15] = txt[drop < 0.15]            # modality dropout: the query side
        txt[drop > 0.85] = img[drop > 0.85]            # sees [q; q] at search time
        return F.normalize(layer(torch.cat([img, txt], 1)), dim=-1)

    for _ in trange(epochs, desc="training projection fusion", unit="epoch"):
        for rows in torch.randperm(len(labels), generator=gen).split(batch_size):
            rows = rows.numpy()
            partners = np.array([rng.choice(members[i]) for i in rows])
            loss = loss_fn(view(rows), view(partners), scale.exp().clamp(max=100))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return layer.weight.detach().numpy().copy()
