"""Retrieval core: ``ingest`` (catalogues -> Product), ``encoders`` (open_clip image-text models),
``cache`` (tower features on disk), ``alignment`` (LiT training), ``fusion``, ``index`` (USearch +
SQLite), ``vocabulary`` (the catalogue's values), ``search`` (text / photo / product / composed
queries), ``clusters``, ``complement``, ``copurchase`` (co-purchase graph, pair model),
``personal``, ``twostage`` (trained personal picks), ``build``."""
from .build import build_index, ensure_demo_index
from .clusters import ClusterMap
from .complement import Complementarity, Look, LookWeights
from .composed import ComposedResults
from .copurchase import CoPurchases, PairModel
from .encoders import DEFAULT_ENCODER, ClipEncoder, create_encoder
from .index import Filters, IndexLookupError, ProductIndex, SearchResult
from .ingest import Catalog, CatalogError, IngestReport, load_catalog
from .products import Product
from .search import QueryError, Searcher
from .twostage import PickRanker
from .vocabulary import Modifier, Vocabulary

__all__ = ["DEFAULT_ENCODER", "Catalog", "CatalogError", "ClipEncoder", "ClusterMap",
           "CoPurchases", "Complementarity", "ComposedResults", "Filters", "IndexLookupError",
           "IngestReport", "Look", "LookWeights", "Modifier", "PairModel", "PickRanker", "Product",
           "ProductIndex", "QueryError", "SearchResult", "Searcher", "Vocabulary", "build_index",
           "create_encoder", "ensure_demo_index", "load_catalog"]
