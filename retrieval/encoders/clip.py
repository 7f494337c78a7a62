"""An open_clip image-text model split into towers (cached) and projections (trained)."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

CHECKPOINT_FILE = "open_clip_model.safetensors"
OPEN_CLIP_CONFIG = "open_clip_config.json"
TOWERS_FILE = "towers.json"


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class TowerSpec:
    """What determines a tower's output: cached tower features are keyed by ``identity``."""

    image_identity: str
    text_identity: str
    locked: bool            # towers frozen: only the projections differ between checkpoints


class ClipEncoder:
    """Image and text encoder in one shared space (``embed_dim``), L2-normalised outputs.

    With locked towers (LiT) ``image_tower``/``text_tower`` give the frozen features that the
    feature cache stores and ``project_*`` maps them into the shared space; otherwise the tower is
    the whole encoder and the projection is the identity.
    """

    def __init__(self, name: str, model: open_clip.CustomTextCLIP, tokenizer, preprocess,
                 towers: TowerSpec, model_cfg: dict, preprocess_cfg: dict, tower_weights: dict):
        self.name = name
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.preprocess = preprocess
        self.towers = towers
        self.model_cfg = model_cfg
        self.preprocess_cfg = preprocess_cfg
        self.tower_weights = tower_weights

    # -- identity ---------------------------------------------------------------------------
    @property
    def embed_dim(self) -> int:
        return int(self.model_cfg["embed_dim"])

    @property
    def projection_identity(self) -> str:
        """Changes whenever the projections' weights change (e.g. after training)."""
        if not self.towers.locked:
            return "identity"
        digest = hashlib.sha1()
        for _, tensor in sorted(self.projection_state().items()):
            digest.update(tensor.detach().cpu().numpy().tobytes())
        return digest.hexdigest()[:16]

    def projection_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.model.state_dict().items()
                if k.startswith(("visual.head.", "text.proj.")) or k == "logit_scale"}

    # -- towers -----------------------------------------------------------------------------
    @torch.no_grad()
    def image_tower(self, images: Sequence[Image.Image]) -> np.ndarray:
        batch = torch.stack([self.preprocess(im) for im in images])
        if self.towers.locked:
            feats = self.model.visual.trunk(batch)
        else:
            feats = self.model.encode_image(batch)
        return feats.float().numpy()

    @torch.no_grad()
    def text_tower(self, texts: Sequence[str]) -> np.ndarray:
        tokens = self.tokenizer(list(texts))
        if not self.towers.locked:
            return self.model.encode_text(tokens).float().numpy()
        text = self.model.text
        mask = (tokens != text.config.pad_token_id).long()
        out = text.transformer(input_ids=tokens, attention_mask=mask)
        return text.pooler(out, mask).float().numpy()

    # -- projections ------------------------------------------------------------------------
    def project_images_t(self, feats: torch.Tensor) -> torch.Tensor:
        out = self.model.visual.head(feats) if self.towers.locked else feats
        return F.normalize(out, dim=-1)

    def project_texts_t(self, feats: torch.Tensor) -> torch.Tensor:
        out = self.model.text.proj(feats) if self.towers.locked else feats
        return F.normalize(out, dim=-1)

    @torch.no_grad()
    def project_images(self, feats: np.ndarray) -> np.ndarray:
        return self.project_images_t(torch.as_tensor(feats, dtype=torch.float32)).numpy()

    @torch.no_grad()
    def project_texts(self, feats: np.ndarray) -> np.ndarray:
        return self.project_texts_t(torch.as_tensor(feats, dtype=torch.float32)).numpy()

    # -- one verb ---------------------------------------------------------------------------
    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """L2-normalised shared-space vectors of RGB images, shape (n, embed_dim)."""
        return self.project_images(self.image_tower(images))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised shared-space vectors of texts, shape (n, embed_dim)."""
        return self.project_texts(self.text_tower(texts))

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write an open_clip checkpoint folder, loadable with ``open_clip.create_model('local-dir:…')``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(folder / CHECKPOINT_FILE))
        (folder / OPEN_CLIP_CONFIG).write_text(json.dumps(
            {"model_cfg": self.model_cfg, "preprocess_cfg": self.preprocess_cfg}, indent=2))
        (folder / TOWERS_FILE).write_text(json.dumps(
            {"base": self.name, **self.tower_weights}, indent=2))
        return folder
