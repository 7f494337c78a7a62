"""Item representation: fusion of a product's image and text embeddings into one vector.

Three named strategies, all mapping items *and* shared-space queries into the fused space:
- ``concat``: per-modality standardisation, then concatenation (the ResNet50+BERT recipe);
- ``weighted``: a weighted sum in the shared space;
- ``projection``: a linear projection of both, trained contrastively on pairs of catalogue
  items that share article type and colour (open_clip's ClipLoss).
A missing modality is filled with the other one: the two are aligned in the shared space.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from tqdm.auto import trange

from .embed import Features
from .products import Product
from .vectors import unit

FUSION_FILE = "fusion.npz"


def filled(emb: Features) -> tuple[np.ndarray, np.ndarray]:
    """(image, text) with a missing modality replaced by the other one."""
    image = np.where(emb.has_image[:, None], emb.image, emb.text)
    text = np.where(emb.has_text[:, None], emb.text, emb.image)
    return image, text


class Fusion:
    """Base class: ``fit`` on catalogue embeddings, then ``items`` and ``query``."""

    name = ""

    def __init__(self, alpha: float = 0.5):
        self.alpha = alpha

    def fit(self, emb: Features, labels: Sequence[str] | None = None) -> Fusion:
        return self

    def dim(self, shared_dim: int) -> int:
        return shared_dim

    def items(self, emb: Features) -> np.ndarray:
        image, text = filled(emb)
        return self.combine(image, text)

    def query(self, vec: np.ndarray) -> np.ndarray:
        """A shared-space query (text or photo embedding) in the fused space."""
        vec = np.atleast_2d(vec).astype(np.float32)
        return self.combine(vec, vec)

    def combine(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict:
        return {"name": self.name, "alpha": self.alpha}

    def save(self, folder: Path) -> None:
        """Write ``FUSION_FILE`` into ``folder``: the settings as JSON, the fitted arrays as such."""
        state = self.state()
        arrays = {k: np.asarray(v, np.float32) for k, v in state.pop("stats", {}).items()}
        if "weight" in state:
            arrays["weight"] = np.asarray(state.pop("weight"), np.float32)
        np.savez(Path(folder) / FUSION_FILE, state=json.dumps(state), **arrays)


class WeightedFusion(Fusion):
    name = "weighted"

    def combine(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        return unit(self.alpha * image + (1 - self.alpha) * text).astype(np.float32)


class ConcatFusion(Fusion):
    name = "concat"

    def __init__(self, alpha: float = 0.5, stats: dict | None = None):
        super().__init__(alpha)
        self.stats = {k: np.asarray(v, np.float32) for k, v in (stats or {}).items()}

    def fit(self, emb: Features, labels: Sequence[str] | None = None) -> Fusion:
        for key, vecs, mask in (("image", emb.image, emb.has_image), ("text", emb.text, emb.has_text)):
            rows = vecs[mask] if mask.any() else vecs
            self.stats[key + "_mean"] = rows.mean(0)
            self.stats[key + "_std"] = rows.std(0) + 1e-6
        return self

    def dim(self, shared_dim: int) -> int:
        return 2 * shared_dim

    def _standard(self, x: np.ndarray, key: str) -> np.ndarray:
        return unit((x - self.stats[key + "_mean"]) / self.stats[key + "_std"])

    def combine(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        return np.concatenate([np.sqrt(self.alpha) * self._standard(image, "image"),
                               np.sqrt(1 - self.alpha) * self._standard(text, "text")],
                              axis=1).astype(np.float32)

    def state(self) -> dict:
        return {**super().state(), "stats": {k: v.tolist() for k, v in self.stats.items()}}


class ProjectionFusion(ConcatFusion):
    name = "projection"

    def __init__(self, alpha: float = 0.5, stats: dict | None = None, weight: np.ndarray | None = None,
                 out_dim: int = 256,
                 epochs: int = 8, batch_size: int = 512, seed: int = 0):
        super().__init__(alpha, stats)
        self.out_dim = out_dim
        self.weight = None if weight is None else np.asarray(weight, np.float32)
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed

    def dim(self, shared_dim: int) -> int:
        return self.out_dim

    def fit(self, emb: Features, labels: Sequence[str] | None = None) -> Fusion:
        super().fit(emb)
        if labels is None:
            raise ValueError("projection fusion needs item labels (article type and colour)")
        image, text = filled(emb)
        x_img = torch.from_numpy(self._standard(image, "image"))
        x_txt = torch.from_numpy(self._standard(text, "text"))
        groups: dict[str, list[int]] = {}
        for i, label in enumerate(labels):
            groups.setdefault(label, []).append(i)
        members = [np.array(groups[label]) for label in labels]
        gen = torch.Generator().manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        layer = torch.nn.Linear(x_img.shape[1] * 2, self.out_dim, bias=False)
        scale = torch.nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
        opt = torch.optim.AdamW([*layer.parameters(), scale], lr=2e-3, weight_decay=0.01)
        loss_fn = ClipLoss()

        def view(rows):
            img, txt = x_img[rows].clone(), x_txt[rows].clone()
            drop = torch.rand(len(rows), generator=gen)
            img[drop < 0.15] = txt[drop < 0.15]            # modality dropout: the query side
            txt[drop > 0.85] = img[drop > 0.85]            # sees [q; q] at search time
            return F.normalize(layer(torch.cat([img, txt], 1)), dim=-1)

        n = len(labels)
        for _ in trange(self.epochs, desc="training projection fusion", unit="epoch"):
            for rows in torch.randperm(n, generator=gen).split(self.batch_size):
                rows = rows.numpy()
                partners = np.array([rng.choice(members[i]) for i in rows])
                loss = loss_fn(view(rows), view(partners), scale.exp().clamp(max=100))
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.weight = layer.weight.detach().numpy().copy()
        return self

    def combine(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._standard(image, "image"), self._standard(text, "text")], 1)
        return unit(x @ self.weight.T).astype(np.float32)

    def state(self) -> dict:
        return {**super().state(), "out_dim": self.out_dim, "weight": self.weight.tolist()}


FUSIONS = {cls.name: cls for cls in (ConcatFusion, WeightedFusion, ProjectionFusion)}


def create_fusion(name: str, **kwargs) -> Fusion:
    if name not in FUSIONS:
        raise ValueError(f"unknown fusion {name!r}; choose one of {sorted(FUSIONS)}")
    return FUSIONS[name](**kwargs)


def fusion_from_state(state: dict) -> Fusion:
    state = dict(state)
    return create_fusion(state.pop("name"), **state)


def load_fusion(folder: Path) -> Fusion:
    """The fusion saved by ``Fusion.save`` into ``folder``."""
    with np.load(Path(folder) / FUSION_FILE) as f:
        state = json.loads(str(f["state"]))
        arrays = {k: f[k] for k in f.files if k != "state"}
    if "weight" in arrays:
        state["weight"] = arrays.pop("weight")
    if arrays:
        state["stats"] = arrays
    return fusion_from_state(state)


def item_labels(products: Sequence[Product]) -> list[str]:
    """The grouping the projection fusion learns from: article type and colour."""
    return [f"{p.article_type or '?'}|{p.colour or '?'}" for p in products]
