"""Item representation: the map that fuses a product's image and text embeddings into one vector,
saved with the index (numpy only; ``retrieval.build.fusion`` fits it).

Three named strategies, all mapping items *and* shared-space queries into the fused space:
- ``concat``: per-modality standardisation, then concatenation (the ResNet50+BERT recipe);
- ``weighted``: a weighted sum in the shared space;
- ``projection``: a linear projection of both, trained contrastively on pairs of catalogue
  items that share article type and colour (open_clip's ClipLoss).
A missing modality is filled with the other one: the two are aligned in the shared space.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .vectors import Features, unit

FUSION_FILE = "fusion.npz"


def filled(emb: Features) -> tuple[np.ndarray, np.ndarray]:
    """(image, text) with a missing modality replaced by the other one."""
    image = np.where(emb.has_image[:, None], emb.image, emb.text)
    text = np.where(emb.has_text[:, None], emb.text, emb.image)
    return image, text


class Fusion:
    """Base class: ``fit`` the statistics on catalogue embeddings, then ``items`` and ``query``."""

    name = ""

    def __init__(self, alpha: float = 0.5):
        self.alpha = alpha

    def fit(self, emb: Features) -> Fusion:
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

    def fit(self, emb: Features) -> Fusion:
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
                 out_dim: int = 256):
        super().__init__(alpha, stats)
        self.out_dim = out_dim
        self.weight = None if weight is None else np.asarray(weight, np.float32)

    def dim(self, shared_dim: int) -> int:
        return self.out_dim

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
