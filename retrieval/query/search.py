"""Answer text, photo and product queries against a saved index."""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..build.encoders import ClipEncoder, create_encoder
from ..build.kinds import KindClassifier
from ..ingest import ImageError, open_rgb
from ..ingest.images import to_rgb
from ..learn.clusters import ClusterMap
from ..learn.complement import WITH_PURCHASES, WITHOUT_PURCHASES, Complementarity, Look, LookWeights, complete_the_look
from ..learn.copurchase import CoPurchases, PairModel
from ..learn.personal import recommend
from ..learn.twostage import PickRanker, recommend_picks
from ..store.index import Filters, IndexLookupError, ProductIndex, SearchResult
from .composed import KEPT, ComposedResults, composed_search, inferred_reference
from .photo import PhotoResults, kind_first
from .vocabulary import Vocabulary

ImageInput = str | Path | bytes | Image.Image     # a photo: a path, its bytes, or a PIL image


class QueryError(ValueError):
    """A query that cannot be answered: empty text, unreadable image, unknown product id."""


def load_index_encoder(index: ProductIndex) -> ClipEncoder:
    spec = index.encoder
    local = Path(index.folder) / spec
    return create_encoder(local if local.exists() else spec)


class Searcher:
    """Search by text, by photo, or by product, with optional metadata filters."""

    def __init__(self, index: str | Path | ProductIndex, encoder: ClipEncoder | None = None):
        """``index``: a saved index folder, or an index in memory (then give its ``encoder``)."""
        self.index = index if isinstance(index, ProductIndex) else ProductIndex.load(index)
        self.encoder = encoder or load_index_encoder(self.index)
        self._vocabulary: Vocabulary | None = None
        self._clusters: ClusterMap | None = None
        self.complementarity = self.index.load_part(Complementarity) or Complementarity()
        self.copurchases = self.index.load_part(CoPurchases)
        self.pair_model = self.index.load_part(PairModel)
        self.pick_ranker = self.index.load_part(PickRanker)
        self.kinds = self.index.load_part(KindClassifier)
        self.look_weights = WITH_PURCHASES if self.copurchases is not None else WITHOUT_PURCHASES

    @property
    def vocabulary(self) -> Vocabulary:
        """Attribute values of the indexed catalogue (built on first use)."""
        if self._vocabulary is None:
            self._vocabulary = Vocabulary(self.index)
        return self._vocabulary

    @property
    def clusters(self) -> ClusterMap:
        """Named clusters of the catalogue (saved with the index, else fitted on first use)."""
        if self._clusters is None:
            self._clusters = self.index.load_part(ClusterMap) or ClusterMap.fit(
                self.index.matrix(), self.index.all_products())
        return self._clusters

    def cluster_of(self, product_id: str) -> tuple[int, str]:
        """The (label, name) of the cluster a product belongs to."""
        label = int(self.clusters.assign(self.item_vector(product_id))[0])
        return label, self.clusters.name(label)

    def cluster(self, label: int, k: int = 10, exclude: Sequence[str] = ()) -> list[SearchResult]:
        """The ``k`` products of a cluster closest to its centre, none of ``exclude``."""
        if not 0 <= label < len(self.clusters.centroids):
            raise QueryError(f"no cluster {label}: clusters are 0 to {len(self.clusters.centroids) - 1}")
        keys, matrix = self.index.entries()
        members = np.flatnonzero(self.clusters.assign(matrix) == label)
        skip = {self.index.key_of(pid) for pid in exclude if pid in self.index}
        members = members[~np.isin(keys[members], list(skip))]
        scores = matrix[members] @ self.clusters.centroids[label]
        order = np.argsort(-scores)[:k]
        return self.index.results(keys[members[order]].tolist(), scores[order].tolist())

    # -- query vectors (shared space, then fused space) -------------------------------------
    def text_vector(self, text: str) -> np.ndarray:
        if not text or not text.strip():
            raise QueryError("empty text query")
        return self.index.fusion.query(self.encoder.encode_texts([text.strip()]))[0]

    def photo_embedding(self, image: ImageInput) -> np.ndarray:
        """The photo in the shared space; ``image``: a path, raw bytes or a PIL image."""
        try:
            if isinstance(image, Image.Image):
                rgb = to_rgb(image)[0]
            elif isinstance(image, (bytes, bytearray)):
                rgb = open_rgb(io.BytesIO(image))[0]
            else:
                rgb = open_rgb(Path(image))[0]
        except ImageError as exc:
            raise QueryError(f"{image if isinstance(image, (str, Path)) else 'image'}: {exc}") from None
        return self.encoder.encode_images([rgb])[0]

    def image_vector(self, image: ImageInput) -> np.ndarray:
        return self.index.fusion.query(self.photo_embedding(image)[None])[0]

    def item_vector(self, product_id: str) -> np.ndarray:
        try:
            return self.index.vector(product_id)
        except IndexLookupError as exc:
            raise QueryError(str(exc)) from None

    # -- searches ---------------------------------------------------------------------------
    # Every search takes ``exclude``: product ids never returned ("not that").
    def text(self, text: str, k: int = 10, filters: Filters | None = None,
             exclude: Sequence[str] = ()) -> list[SearchResult]:
        return self.index.search(self.text_vector(text), k, filters, exclude)

    def image(self, image: ImageInput, k: int = 10, filters: Filters | None = None,
              exclude: Sequence[str] = ()) -> PhotoResults:
        """Products like the photo, those of the kind it seems to show first (``kind_first``)."""
        photo = self.photo_embedding(image)
        return kind_first(self.index, self.index.fusion.query(photo[None])[0], photo, self.kinds,
                          k, filters, exclude)

    def item(self, product_id: str, k: int = 10, filters: Filters | None = None,
             exclude: Sequence[str] = ()) -> list[SearchResult]:
        """Products like ``product_id``; never the product itself."""
        return self.index.search(self.item_vector(product_id), k, filters,
                                 [product_id, *exclude])

    def composed(self, modifier: str, item: str | None = None, image: ImageInput | None = None, k: int = 10,
                 filters: Filters | None = None, exclude: Sequence[str] = (),
                 keep: Sequence[str] = KEPT) -> ComposedResults:
        """"Like this but ...": a reference product (``item``) or photo (``image``) plus a change
        in words; ``keep``: what of the reference the results keep unless the change names
        another (its article type and gender); see ``retrieval.composed``."""
        if (item is None) == (image is None):
            raise QueryError("a composed query needs exactly one reference: a product or a photo")
        if not modifier or not modifier.strip():
            raise QueryError("empty modifier")
        if item is not None:
            vector = self.item_vector(item)
            reference = self.index.product(item)
        else:
            vector = self.image_vector(image)
            reference = inferred_reference(self.index, vector)
        return composed_search(self.index, vector, self.text_vector, modifier, reference, k,
                               filters, self.vocabulary, exclude=exclude, keep=keep)

    def complete(self, item: str | None = None, image: ImageInput | None = None, k: int = 10,
                 weights: LookWeights | None = None, per_category: int | None = 2,
                 exclude: Sequence[str] = (), category: str | Sequence[str] | None = None) -> Look:
        """Products from other, compatible categories that complete ``item`` (or a photo); see
        ``retrieval.complement``. ``weights`` default to ``self.look_weights``."""
        if (item is None) == (image is None):
            raise QueryError("complete the look needs exactly one product or photo")
        if item is not None:
            vector, anchor = self.item_vector(item), self.index.product(item)
        else:
            vector = self.image_vector(image)
            anchor = inferred_reference(self.index, vector)
        return complete_the_look(self.index, anchor, vector, self.complementarity, k,
                                 weights or self.look_weights,
                                 per_category, exclude=exclude, category=category,
                                 copurchases=self.copurchases, pair_model=self.pair_model)

    def for_history(self, history: list[str], days: list[float] | None = None, k: int = 10,
                    filters: Filters | None = None, exclude: Sequence[str] = ()) -> list[SearchResult]:
        """Products for a browsing history (ids, oldest first; optional days of each view); never
        one of the history. With an index built from purchase data the two-stage picks
        (``retrieval.twostage``; an empty history then gets the most bought products), else the
        products nearest to the history's recency profile."""
        try:
            if self.pick_ranker is not None:
                return recommend_picks(self.index, self.pick_ranker, history, days, k, filters, exclude)
            return recommend(self.index, history, days, k, filters, exclude)
        except (IndexLookupError, ValueError) as exc:
            raise QueryError(str(exc)) from None
