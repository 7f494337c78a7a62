"""Build an index from a catalogue: ingest, encode (cached), align, fuse, index, save."""
from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..ingest import Catalog, IngestReport, load_catalog
from ..ingest.synthetic import write_synthetic_catalogue
from ..learn.clusters import ClusterMap
from ..learn.complement import Complementarity
from ..learn.copurchase import CoPurchases, PairModel
from ..learn.interactions import copurchases, purchase_histories, read_transactions
from ..learn.twostage import PickRanker
from ..settings import DEMO_LIMIT, demo_index_dir, myntra_dir
from ..store.index import ProductIndex
from .alignment import train_alignment
from .cache import FeatureCache
from .embed import Engine, caption_features, project, tower_features
from .encoders import DEFAULT_ENCODER, ClipEncoder, create_encoder
from .fusion import fit_fusion, item_labels
from .kinds import KindClassifier, KindPhotos

DEFAULT_FUSION = "projection"
COPURCHASE_FILES = ("bought_together.csv", "transactions.csv")


@dataclass
class BuildStats:
    products: int = 0
    stages: dict[str, float] = field(default_factory=dict)   # seconds per stage
    peak_rss_mb: float = 0.0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start

    @property
    def total_s(self) -> float:
        return sum(self.stages.values())

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in self.stages.items())
        return (f"{self.products} products in {self.total_s:.1f}s ({parts}); "
                f"peak memory {self.peak_rss_mb:.0f} MB")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def needs_alignment(encoder: ClipEncoder) -> bool:
    """A packaged architecture (not a trained checkpoint) has untrained projections."""
    return encoder.towers.locked and not Path(encoder.name).exists()


def save_encoder(encoder: ClipEncoder, index_dir: Path) -> str:
    """Store the encoder checkpoint under ``encoders/<identity>`` (written once, atomically)."""
    if not encoder.towers.locked:
        return encoder.name
    rel = f"encoders/{encoder.projection_identity}"
    target = index_dir / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        encoder.save(tmp)
        try:
            os.rename(tmp, target)
        except OSError:            # another build wrote the same checkpoint first
            shutil.rmtree(tmp, ignore_errors=True)
    return rel


def build_index(catalog: str | Path | Catalog, out: str | Path, limit: int | None = None,
                encoder: str | ClipEncoder = DEFAULT_ENCODER, fusion: str = DEFAULT_FUSION,
                align: bool | None = None, cache: FeatureCache | None = None,
                stats: BuildStats | None = None, engine: Engine | None = None,
                shards: int = 0, kind_photos: Catalog | None = None,
                kind_map: dict[str, set[str]] | None = None) -> ProductIndex:
    """Build and save an index of ``catalog`` into ``out``; ``align=None`` trains the alignment
    only when the encoder's projections are untrained. ``engine`` runs the towers (default: this
    process; ``retrieval.raydata.RayEngine`` on a Ray cluster): every other stage is the same.
    ``shards``: the vectors go into that many USearch shards on Ray actors (``retrieval.shards``).
    ``kind_photos``: another shop's catalogue whose photos, their types mapped to ours by
    ``kind_map`` (``retrieval.kinds.read_kind_map``), also teach the kind classifier."""
    stats = stats or BuildStats()
    out = Path(out)
    with stats.stage("ingest"):
        if not isinstance(catalog, Catalog):
            catalog = load_catalog(catalog, limit=limit)
    products = catalog.products
    if not products:
        raise ValueError(f"{catalog.path}: no usable products\n{catalog.report.summary()}")
    with stats.stage("load encoder"):
        if isinstance(encoder, str | Path):
            encoder = create_encoder(encoder)
    with stats.stage("encode"):
        feats = tower_features(products, encoder, cache, report=catalog.report, engine=engine)
    if align if align is not None else needs_alignment(encoder):
        with stats.stage("align"):
            train_alignment(encoder, feats, caption_features(products, encoder, cache, engine))
    with stats.stage("fuse"):
        emb = project(feats, encoder)
        fuser = fit_fusion(fusion, emb, item_labels(products))
    with stats.stage("index"):
        index = ProductIndex(fuser, encoder.embed_dim, encoder="", shards=shards)
        index.add(products, emb)
    with stats.stage("cluster"):
        parts: list = [ClusterMap.fit(index.matrix(), products)]
    with stats.stage("learn kinds"):
        more = (KindPhotos.of(kind_photos.products, kind_map or {}, encoder, cache,
                              catalog.report)
                if kind_photos is not None else None)
        kinds = KindClassifier.for_catalogue(emb.image, emb.has_image, products, more)
        parts += [kinds] if kinds else []
    folder = Path(catalog.path)
    ids, fused = [p.id for p in products], fuser.items(emb)
    if folder.is_dir() and any((folder / f).is_file() for f in COPURCHASE_FILES):
        with stats.stage("learn complementarity"):
            pairs = copurchases(folder, catalog.report, set(ids))
            parts.append(Complementarity.learn(pairs, {p.id: p.article_type for p in products}))
            parts.append(CoPurchases.from_pairs(pairs))
        if pairs:
            with stats.stage("train pair model"):
                parts.append(PairModel.fit(ids, fused, [p.article_type for p in products],
                                           pairs))
    if folder.is_dir() and (folder / "transactions.csv").is_file():
        with stats.stage("train personal ranker"):
            # rows already reported by the co-purchase reader above
            events = read_transactions(folder / "transactions.csv", IngestReport(), set(ids))
            try:
                parts.append(PickRanker.fit(ids, fused, purchase_histories(events, ids)))
            except ValueError as exc:                 # too few purchases: the profile serves
                catalog.report.add(folder / "transactions.csv", None, None, "", str(exc), "skipped")
    parts.append(catalog.report)                    # with the co-purchase rows' issues
    with stats.stage("save"):
        out.mkdir(parents=True, exist_ok=True)
        index.encoder = save_encoder(encoder, out)
        index.meta = {"catalog": str(Path(catalog.path).resolve()), "layout": catalog.layout,
                      "limit": limit}
        index.save(out, parts)
    stats.products = len(products)
    stats.peak_rss_mb = peak_rss_mb()
    return index


def ensure_demo_index(out: str | Path | None = None) -> Path:
    """The demo index (the first ``DEMO_LIMIT`` Myntra products), built now if it is missing.
    Without the Myntra catalogue, a generated one (drawn products, the real towers) is indexed
    instead, next to the demo index, and the message says so and where the real one goes."""
    if not (myntra_dir() / "styles.csv").is_file():
        out = Path(out) if out is not None else demo_index_dir().with_name("demo-index-generated")
        shop = out.with_name(out.name + "-catalogue")
        print(f"The Myntra catalogue is not at {myntra_dir()}: the demo serves a generated catalogue "
              f"of drawn products ({shop}), searched with the real towers. To serve the real one, put "
              f"Kaggle's fashion-product-images-small there (set FASHION_DATA to the folder holding it, "
              f"or FASHION_MYNTRA to the catalogue itself).")
        if not (out / "CURRENT").is_file():
            build_index(write_synthetic_catalogue(shop), out)
        return out
    out = Path(out) if out is not None else demo_index_dir()
    if not (out / "CURRENT").is_file():
        print(f"building the demo index (first {DEMO_LIMIT} products of {myntra_dir()})")
        build_index(myntra_dir(), out, limit=DEMO_LIMIT)
    return out
