"""What the suites share within one run: the catalogue, its features, a leakage-free split, and
an alignment trained on the training side only."""
from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path

import numpy as np

from retrieval import (
    DEFAULT_ENCODER,
    DEFAULT_FUSION,
    Captions,
    Catalog,
    ClipEncoder,
    Features,
    Fusion,
    ProductIndex,
    Split,
    assert_disjoint,
    caption_features,
    create_encoder,
    fit_fusion,
    fold_split,
    hm_dir,
    holdout_split,
    item_labels,
    load_catalog,
    project,
    text_to_image_scores,
    tower_features,
    train_alignment,
)

QUICK_LIMIT = 3000
FOLDS = 5             # the held-out split is fold 0 of five (a fifth of the catalogue)


class Context:
    def __init__(self, catalog: Path, out: Path, quick: bool = False, seed: int = 0,
                 encoder: str = DEFAULT_ENCODER, limit: int | None = None,
                 hm: Path | None = None, index_dir: str | None = None,
                 ratings: str | None = None):
        self.catalog_path = Path(catalog)
        self.hm_path = Path(hm) if hm else hm_dir()
        self.out = Path(out)
        self.quick = quick
        self.limit = limit if limit is not None else (QUICK_LIMIT if quick else None)
        self.seed = seed
        self.encoder_spec = encoder
        self.index_dir = index_dir            # a built index given with --index (served by `load`)
        self.ratings = Path(ratings) if ratings else None     # the app's reviews database
        self._trained: dict[tuple[str, bool, bool, int, int], tuple[ClipEncoder, Features]] = {}

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(self.catalog_path, limit=self.limit, check_images=False)

    @cached_property
    def base_encoder(self) -> ClipEncoder:
        return create_encoder(self.encoder_spec)

    @cached_property
    def features(self) -> Features:
        return tower_features(self.catalog.products, self.base_encoder, report=self.catalog.report)

    @cached_property
    def captions(self) -> Captions:
        """Text-tower features of every product's captions (title, kind, canonical text)."""
        return caption_features(self.catalog.products, self.base_encoder)

    @cached_property
    def split(self) -> Split:
        return holdout_split([p.id for p in self.catalog.products], 1 / FOLDS, self.seed)

    def fold(self, k: int) -> Split:
        """The catalogue with its ``k``-th fifth held out; fold 0 is ``split``."""
        return self.split if k == 0 else fold_split([p.id for p in self.catalog.products], k,
                                                    FOLDS, self.seed)

    @cached_property
    def encoder(self) -> ClipEncoder:
        """The base encoder with projections trained on the training split only."""
        enc = copy.deepcopy(self.base_encoder)
        if enc.towers.locked:
            self.alignment_before = text_to_image_scores(enc, self.features.subset(self.split.test))
            train_alignment(enc, self.features.subset(self.split.train),
                            self.captions.subset(self.split.train), seed=self.seed)
            self.alignment_after = text_to_image_scores(enc, self.features.subset(self.split.test))
        return enc

    def trained(self, spec: str, captions: bool = True, category_path: bool = True,
                seed: int | None = None, fold: int = 0) -> tuple[ClipEncoder, Features]:
        """An encoder of architecture ``spec`` trained on the training side of ``fold`` (on
        several captions per product, the kind caption with or without its ``category_path``, or
        on the canonical text only; with this run's seed unless ``seed`` is given) and the
        catalogue's embeddings under it."""
        seed = self.seed if seed is None else seed
        if (spec == self.encoder_spec and captions and category_path and seed == self.seed
                and fold == 0):
            return self.encoder, self.embeddings
        key = (spec, captions, category_path, seed, fold)
        if key not in self._trained:
            enc = create_encoder(spec)
            feats = tower_features(self.catalog.products, enc, report=self.catalog.report)
            train = self.fold(fold).train
            caps = (caption_features(self.catalog.products, enc,
                                     category_path=category_path).subset(train)
                    if captions else None)
            train_alignment(enc, feats.subset(train), caps, seed=seed)
            self._trained[key] = enc, project(feats, enc)
        return self._trained[key]

    @cached_property
    def embeddings(self) -> Features:
        return project(self.features, self.encoder)

    @cached_property
    def fusion(self) -> Fusion:
        """The default fusion, fitted on the training split."""
        rows = self.split.train
        labels = item_labels(self.catalog.products)
        return fit_fusion(DEFAULT_FUSION, self.embeddings.subset(rows), [labels[i] for i in rows],
                          seed=self.seed)

    @cached_property
    def fused(self) -> np.ndarray:
        """Every item's fused vector."""
        return self.fusion.items(self.embeddings)

    @cached_property
    def index(self) -> ProductIndex:
        """The whole catalogue in an in-memory index (the trained encoder, the default fusion)."""
        index = ProductIndex(self.fusion, self.encoder.embed_dim, encoder="")
        index.add(self.catalog.products, self.embeddings)
        return index

    @cached_property
    def hm(self) -> Context:
        """The H&M sample (purchases and co-purchases), with the same encoder and slice size."""
        if self.catalog_path.resolve() == self.hm_path.resolve():
            return self
        return Context(self.hm_path, self.out, quick=self.quick, seed=self.seed,
                       encoder=self.encoder_spec, limit=self.limit, hm=self.hm_path)

    def labels(self, field: str = "article_type") -> np.ndarray:
        return np.array([getattr(p, field) or "" for p in self.catalog.products])

    def query_rows(self, n: int) -> np.ndarray:
        """``n`` random held-out items with both modalities (fixed by the seed)."""
        e = self.features
        pool = self.split.test[(e.has_image & e.has_text)[self.split.test]]
        rng = np.random.default_rng(self.seed)
        rows = np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))
        ids = [p.id for p in self.catalog.products]
        assert_disjoint([ids[i] for i in self.split.train], [ids[i] for i in rows])
        return rows
