"""An open_clip image-text model split into towers (cached) and projections (trained)."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

from .coalesce import Coalescer
from .onnx import OnnxTower, exported

CHECKPOINT_FILE = "open_clip_model.safetensors"
OPEN_CLIP_CONFIG = "open_clip_config.json"
TOWERS_FILE = "towers.json"
QUERY_TEXTS = 4          # text-tower calls of at most this many texts are queries (their features kept)
TEXT_CACHE = 4096        # query texts whose features are kept, least recently used dropped


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def attach_stage_maps(visual: torch.nn.Module, stage: int, image_size: int) -> int:
    """Make the timm trunk of open_clip's ``visual`` return its pooled features followed by the
    flattened activation maps of stage ``stage`` (1-based), which keep *where* things are in the
    photo (a logo, a print, a collar), and widen the first layer of the head to take them.
    Forward hooks do it, so ``visual(pixels)``, Grad-CAM and the state dict keep their names.
    Returns the number of features added."""
    trunk = visual.trunk
    captured = threading.local()            # sessions encode photos in parallel threads
    trunk.blocks[stage - 1].register_forward_hook(
        lambda module, args, out: setattr(captured, "maps", out))
    trunk.register_forward_hook(
        lambda module, args, out: torch.cat([out, captured.maps.flatten(1)], 1))
    with torch.no_grad():
        extra = trunk(torch.zeros(1, 3, image_size, image_size)).shape[1] - trunk.num_features
    head = visual.head
    parent, name = (head, "proj") if hasattr(head, "proj") else (head.mlp, "fc1")
    first = getattr(parent, name)
    setattr(parent, name, torch.nn.Linear(first.in_features + extra, first.out_features,
                                          bias=first.bias is not None))
    return extra


class PooledText(torch.nn.Module):
    """open_clip's HF text tower up to its pooled features (before the projection)."""

    def __init__(self, text: torch.nn.Module):
        super().__init__()
        self.text = text

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text.pooler(self.text.transformer(input_ids=tokens, attention_mask=mask), mask)


@dataclass
class TowerSpec:
    """What determines a tower's output: cached tower features are keyed by ``identity``."""

    image_identity: str
    text_identity: str
    locked: bool            # towers frozen: only the projections differ between checkpoints
    trained_stages: int = 0  # trailing image-trunk stages trained with the projections
    stage_maps: int = 0      # the stage whose maps follow the pooled features in the tower's output

    def identity(self, tower: str) -> str:
        """The ``"image"`` or ``"text"`` tower's identity."""
        return self.image_identity if tower == "image" else self.text_identity


class ClipEncoder:
    """Image and text encoder in one shared space (``embed_dim``), L2-normalised outputs.

    With locked towers (LiT) ``image_tower``/``text_tower`` give the frozen features that the
    feature cache stores and ``project_*`` maps them into the shared space; otherwise the tower is
    the whole encoder and the projection is the identity. When the last ``trained_stages`` stages
    of the image trunk are trained too, the image tower stops before them (its features are the
    activation maps entering them, flattened) and ``project_images_t`` runs them, so training
    still never needs a full forward pass.
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
        self.created_with: dict = {}      # create_encoder's arguments: a Ray worker rebuilds from them
        self._process_state()

    PROCESS_STATE = ("_texts", "_text_lock", "_query_texts", "_onnx", "_onnx_lock")

    def _process_state(self) -> None:
        """What a copy builds for itself: the kept query texts' features, one tower pass for
        concurrent query texts, the ONNX Runtime sessions."""
        self._texts: OrderedDict[str, np.ndarray] = OrderedDict()    # query text -> features
        self._text_lock = threading.Lock()
        self._query_texts = Coalescer(self._text_tower)
        self._onnx: dict[str, OnnxTower] = {}
        self._onnx_lock = threading.Lock()

    def __getstate__(self) -> dict:          # copies (the explainer's) start with no kept texts
        return {k: v for k, v in self.__dict__.items() if k not in self.PROCESS_STATE}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._process_state()

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
                if k.startswith(("visual.head.", "text.proj.", *self._trained_trunk_prefixes()))
                or k == "logit_scale"}

    def trainable_parameters(self) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
        """What alignment training updates: (the projections and the logit scale, the trained
        trunk stages)."""
        heads = [*self.model.visual.head.parameters(), *self.model.text.proj.parameters(),
                 self.model.logit_scale]
        return heads, [p for m in self._trained_trunk_modules() for p in m.parameters()]

    # The trunk is a timm EfficientNet: conv_stem, bn1, blocks (stages), conv_head, bn2.
    def _frozen_trunk_modules(self) -> list[torch.nn.Module]:
        trunk = self.model.visual.trunk
        return [trunk.conv_stem, trunk.bn1, *trunk.blocks[:len(trunk.blocks) - self.towers.trained_stages]]

    def _trained_trunk_modules(self) -> list[torch.nn.Module]:
        n = self.towers.trained_stages
        if not n:
            return []
        trunk = self.model.visual.trunk
        return [*trunk.blocks[-n:], trunk.conv_head, trunk.bn2]

    def _trained_trunk_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes of the trained trunk stages (derived from the modules)."""
        names = {id(m): name for name, m in self.model.named_modules()}
        return tuple(names[id(m)] + "." for m in self._trained_trunk_modules())

    # -- towers -----------------------------------------------------------------------------
    def _runtime(self, tower: str) -> OnnxTower | None:
        """The frozen ``tower`` (``"image"``: the part of the trunk that is frozen; ``"text"``:
        the pooled transformer) in ONNX Runtime, exported on first use; None when it is trained
        or the model is off the CPU, or ``FASHION_ONNX=0`` asks for torch."""
        if not self.towers.locked or self.device.type != "cpu" or os.environ.get("FASHION_ONNX") == "0":
            return None
        with self._onnx_lock:
            if tower not in self._onnx:
                identity = self.towers.identity(tower)
                if tower == "image":
                    size = self.preprocess_cfg["size"]
                    module = (torch.nn.Sequential(*self._frozen_trunk_modules()) if self.towers.trained_stages
                              else self.model.visual.trunk)
                    path = exported(module, (torch.zeros(2, 3, size, size),), ["pixels"],
                                    {"pixels": {0: "batch"}}, identity)
                else:
                    # texts of two lengths: the traced graph applies the padding mask
                    path = exported(PooledText(self.model.text), self.text_tokens(["a navy cotton shirt", "navy"]),
                                    ["tokens", "mask"], {"tokens": {0: "batch", 1: "width"},
                                                         "mask": {0: "batch", 1: "width"}}, identity)
                self._onnx[tower] = OnnxTower(path)
        return self._onnx[tower]

    @torch.no_grad()
    def image_tower(self, images: Sequence[Image.Image]) -> np.ndarray:
        batch = torch.stack([self.preprocess(im) for im in images]).to(self.device)
        runtime = self._runtime("image")
        if runtime is not None:
            feats = runtime.run(batch.numpy())
            if self.towers.trained_stages:
                self._map_shape = tuple(feats.shape[1:])
            return feats.reshape(len(feats), -1)
        if self.towers.trained_stages:
            feats = batch
            for module in self._frozen_trunk_modules():
                feats = module(feats)
            self._map_shape = tuple(feats.shape[1:])
            feats = feats.flatten(1)
        elif self.towers.locked:
            feats = self.model.visual.trunk(batch)
        else:
            feats = self.model.encode_image(batch)
        return feats.float().cpu().numpy()

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (the towers' inputs are moved there)."""
        return next(self.model.parameters()).device

    def text_tower(self, texts: Sequence[str]) -> np.ndarray:
        """Text-tower features of ``texts``. Those of query texts (calls of up to
        ``QUERY_TEXTS`` texts: a chat turn asks for the same text to understand the turn, search
        and explain) are kept for the last ``TEXT_CACHE`` distinct texts, when the tower is frozen;
        new query texts of concurrent calls go through the tower together (``Coalescer``)."""
        if not self.towers.locked or len(texts) > QUERY_TEXTS:
            return self._text_tower(texts)
        with self._text_lock:
            known = {t: self._texts[t] for t in texts if t in self._texts}
            for t in known:
                self._texts.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, self._query_texts(missing)))
            with self._text_lock:
                self._texts.update((t, known[t]) for t in missing)
                while len(self._texts) > TEXT_CACHE:
                    self._texts.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def text_tokens(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask of ``texts`` for the locked text tower, without the
        padding columns no text of them uses."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        mask = (tokens != self.model.text.config.pad_token_id).long()
        width = int(mask.sum(1).max())
        return tokens[:, :width], mask[:, :width]

    @torch.no_grad()
    def _text_tower(self, texts: Sequence[str]) -> np.ndarray:
        if not self.towers.locked:
            return self.model.encode_text(self.tokenizer(list(texts)).to(self.device)).float().cpu().numpy()
        tokens, mask = self.text_tokens(texts)
        runtime = self._runtime("text")
        if runtime is not None:
            return runtime.run(tokens.numpy(), mask.numpy())
        return PooledText(self.model.text)(tokens, mask).float().cpu().numpy()

    def pooled(self, image_feats: np.ndarray) -> np.ndarray:
        """The trunk's pooled features within image-tower features (the compact description of a
        photo that content models such as PixelRec take), whatever follows them."""
        if self.towers.stage_maps:
            return image_feats[:, :self.model.visual.trunk.num_features]
        return image_feats

    # -- projections ------------------------------------------------------------------------
    def project_images_t(self, feats: torch.Tensor) -> torch.Tensor:
        if self.towers.trained_stages:
            trunk = self.model.visual.trunk
            x = feats.reshape(len(feats), *self.map_shape)
            for module in self._trained_trunk_modules():
                x = module(x)
            feats = trunk.global_pool(x)
        out = self.model.visual.head(feats) if self.towers.locked else feats
        return F.normalize(out, dim=-1)

    @property
    def map_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the activation maps the image tower hands over."""
        if getattr(self, "_map_shape", None) is None:
            size = self.preprocess_cfg["size"]
            self.image_tower([Image.new("RGB", (size, size), "white")])
        return self._map_shape

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
