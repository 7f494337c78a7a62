"""Shared fixtures: real slices of the Myntra catalogue, one feature cache per test session, and one
small index (real towers, the first 300 products) built once and shared by the fast tests.

The end-to-end tests (a served app in Chromium, the eval suites, the CLIs as subprocesses) are
marked ``slow``: ``pytest -m "not slow"`` runs the rest in a few minutes."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrieval import myntra_dir

SLICE = 300


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory):
    """Every test (and CLI subprocess) of the session shares a fresh feature cache."""
    path = tmp_path_factory.mktemp("feature-cache")
    os.environ["FASHION_CACHE"] = str(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return path


@pytest.fixture(scope="session")
def myntra() -> Path:
    path = myntra_dir()
    assert (path / "styles.csv").is_file(), f"the Myntra catalogue is expected at {path}"
    return path


@pytest.fixture(scope="session")
def encoder():
    from retrieval import create_encoder

    return create_encoder()


@pytest.fixture(scope="session")
def catalog(myntra):
    from retrieval import load_catalog

    return load_catalog(myntra, limit=SLICE)


@pytest.fixture(scope="session")
def features(catalog, encoder):
    from retrieval import tower_features

    return tower_features(catalog.products, encoder)


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory, catalog, myntra):
    from retrieval import build_index

    out = tmp_path_factory.mktemp("index")
    build_index(catalog, out)
    return out


@pytest.fixture(scope="session")
def searcher(index_dir):
    """A searcher over the shared index (one encoder for the whole session). Tests that change an
    index copy ``index_dir`` first."""
    from retrieval import Searcher

    return Searcher(index_dir)


@pytest.fixture(scope="session")
def hm_index(tmp_path_factory):
    """An H&M slice (1,000 articles) built with its purchases: the co-purchase graph, the pair
    model and the personal ranker are saved with it."""
    from retrieval import build_index, hm_dir, load_catalog

    out = tmp_path_factory.mktemp("hm-index")
    build_index(load_catalog(hm_dir(), limit=1000), out)
    return out
