"""Retrieval core, in rooms: ``store`` (the index: USearch + SQLite), ``ingest`` (catalogues ->
Product), ``learn`` (co-purchases, complementarity, clusters, personal picks), ``build`` (towers,
features, alignment, fusion, kinds, the build pipeline) and ``query`` (the search face).

The names below are the package's face: other packages import only these. Each is imported on
first use, so that ``retrieval.store`` loads without the towers' torch."""
from __future__ import annotations

import importlib

# onnxruntime's native library must load before usearch's: the other order crashes the process
# (onnxruntime 1.32, usearch 2.26), as ``retrieval.store`` then ``retrieval.build`` would do.
import onnxruntime  # noqa: F401

_FACE = {
    "build.alignment": ["text_to_image_scores", "train_alignment"],
    "build.cache": ["FeatureCache"],
    "build.embed": ["Captions", "LocalEngine", "caption_features", "project", "text_features",
                    "tower_features"],
    "build.encoders": ["ClipEncoder", "DEFAULT_ENCODER", "STANDIN", "StandinEncoder", "create_encoder"],
    "build.encoders.clip": ["PooledText"],
    "build.encoders.coalesce": ["Coalescer"],
    "build.encoders.weights": ["resolve_text_tower"],
    "build.fusion": ["fit_fusion", "item_labels"],
    "build.kinds": ["KindClassifier", "KindPhotos", "read_kind_map"],
    "build.pipeline": ["DEFAULT_FUSION", "build_index", "ensure_demo_index", "peak_rss_mb"],
    "build.raydata": ["RayEngine"],
    "ingest": ["Catalog", "CatalogError", "ImageError", "IngestReport", "load_catalog", "open_rgb"],
    "ingest.images": ["MAX_PIXELS"],
    "ingest.synthetic": ["write_synthetic_catalogue"],
    "learn.clusters": ["ClusterMap", "Clustering", "NOISE", "default_k", "hdbscan_clusters", "kmeans",
                       "name_clusters", "purity", "reduce"],
    "learn.complement": ["Complementarity", "Look", "LookItem", "LookWeights", "complete_the_look",
                         "diverse_top", "rule_score", "slot"],
    "learn.copurchase": ["CoPurchases", "PairModel"],
    "learn.interactions": ["Interactions", "assert_no_leakage", "copurchases", "leave_last_out", "read_pairs",
                           "read_transactions", "same_day_pairs"],
    "learn.metrics": ["hit", "mrr", "ndcg", "precision", "recall", "recall_at_k", "reciprocal_rank",
                      "target_ranks"],
    "learn.personal": ["DAY_HALF_LIFE", "ItemKNN", "MostPopular", "ProfileScores", "RandomScores", "UserKNN",
                       "interaction_matrix", "recency_weights", "recommend"],
    "learn.splits": ["LeakageError", "Split", "assert_disjoint", "fold_split", "holdout_split", "in_test"],
    "learn.twostage": ["PickRanker", "TwoStageRecommender"],
    "query.composed": ["ComposedResults", "composed_search"],
    "query.photo": ["CONFIDENCE", "kind_first"],
    "query.search": ["ImageInput", "QueryError", "Searcher"],
    "query.vocabulary": ["MATERIALS", "Modifier", "Vocabulary", "change_text", "in_words", "normalise",
                         "price_range"],
    "settings": ["REPO_ROOT", "cache_dir", "demo_index_dir", "hm_dir", "myntra_dir", "runs_dir"],
    "store.fusion": ["FUSIONS", "Fusion", "create_fusion", "fusion_from_state"],
    "store.index": ["Filters", "IndexConflict", "IndexLookupError", "ProductIndex", "SearchResult",
                    "exact_for", "overfetched"],
    "store.locks": ["writer_lock"],
    "store.products": ["Product"],
    "store.shards": ["ShardedVectors", "connect"],
    "store.vectors": ["Features", "unit"],
}
_MODULES = {"cli": "cli", "index": "store.index", "metrics": "learn.metrics"}
_HOME = {name: module for module, names in _FACE.items() for name in names}
__all__ = sorted([*_HOME, *_MODULES])


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f".{_MODULES[name]}", __name__)
    if name not in _HOME:
        raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
