"""Shared fixtures: one feature cache per test session; a generated shop (``shop*``: 60 drawn
products with purchases, the stand-in towers, an index built in seconds) for most tests; real
slices of the Myntra and H&M catalogues (an index of the first 300 products with the real towers)
for the tests that need them.

A test using a real-data fixture (``DATA_FIXTURES``) is marked ``data`` on collection; ``data``
tests skip, saying why, when ``../shared/data`` (``FASHION_DATA``) is absent. The end-to-end tests
(a served app in Chromium, the eval suites, the CLIs as subprocesses) are marked ``slow``:
``pytest -m "not slow"`` runs the rest in a few minutes."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrieval import hm_dir, myntra_dir

SLICE = 300
DATA_FIXTURES = {"myntra", "catalog", "features", "index_dir", "searcher", "hm_index"}


def real_data_missing() -> str | None:
    """Why the real catalogues cannot be read (None when they can)."""
    for path in (myntra_dir() / "styles.csv", hm_dir() / "articles.csv"):
        if not path.is_file():
            return (f"needs the real catalogues: {path} is missing (set FASHION_DATA to the folder "
                    f"holding fashion-product-images-small/ and hm-sample/)")
    return None


def pytest_collection_modifyitems(config, items):
    missing = real_data_missing()
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)
        if missing and item.get_closest_marker("data"):
            item.add_marker(pytest.mark.skip(reason=missing))


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory):
    """Every test (and CLI subprocess) of the session shares a fresh feature cache."""
    path = tmp_path_factory.mktemp("feature-cache")
    os.environ["FASHION_CACHE"] = str(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return path


@pytest.fixture(scope="session")
def shop(tmp_path_factory) -> Path:
    """The generated catalogue (Kaggle layout, with transactions.csv)."""
    from retrieval import write_synthetic_catalogue

    return write_synthetic_catalogue(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="session")
def standin():
    from retrieval import STANDIN, create_encoder

    return create_encoder(STANDIN)


@pytest.fixture(scope="session")
def shop_catalog(shop):
    from retrieval import load_catalog

    return load_catalog(shop)


@pytest.fixture(scope="session")
def shop_features(shop_catalog, standin):
    from retrieval import tower_features

    return tower_features(shop_catalog.products, standin)


@pytest.fixture(scope="session")
def shop_index(tmp_path_factory, shop_catalog, standin):
    """The generated shop indexed with the stand-in towers (weighted fusion: the projection has
    too few pairs to learn from in 60 products), with its co-purchases and personal ranker."""
    from retrieval import build_index

    out = tmp_path_factory.mktemp("shop-index")
    build_index(shop_catalog, out, encoder=standin, fusion="weighted")
    return out


@pytest.fixture(scope="session")
def shop_searcher(shop_index):
    """A searcher over the shop's index. Tests that change an index copy ``shop_index`` first."""
    from retrieval import Searcher

    return Searcher(shop_index)


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
