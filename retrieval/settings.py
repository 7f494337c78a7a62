"""Defaults in one place: where data, caches and runs live (every path can be overridden by an
environment variable), the demo index."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """Folder holding the real catalogues (``FASHION_DATA``, default ``../shared/data``)."""
    return Path(os.environ.get("FASHION_DATA", REPO_ROOT.parent / "shared" / "data"))


def myntra_dir() -> Path:
    """Kaggle "Fashion Product Images (Small)" layout (``FASHION_MYNTRA`` overrides)."""
    return Path(os.environ.get("FASHION_MYNTRA", data_root() / "fashion-product-images-small"))


def hm_dir() -> Path:
    """H&M sample (``FASHION_HM`` overrides)."""
    return Path(os.environ.get("FASHION_HM", data_root() / "hm-sample"))


def cache_dir() -> Path:
    """Feature cache and converted weights (``FASHION_CACHE``, default ``~/.cache/fashion-assistant``)."""
    path = Path(os.environ.get("FASHION_CACHE", Path.home() / ".cache" / "fashion-assistant"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Built indexes and trained checkpoints of the demo (``FASHION_RUNS``, default ``./runs``)."""
    return Path(os.environ.get("FASHION_RUNS", REPO_ROOT / "runs"))


# The demo: the first DEMO_LIMIT products of the Myntra catalogue, indexed under runs/.
DEMO_LIMIT = 2000


def demo_index_dir() -> Path:
    """Where ``python -m retrieval demo`` builds the demo index (the CLIs' default index)."""
    return runs_dir() / "demo-index"
