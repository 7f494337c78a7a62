"""A photo's search, kind first. A shopper's photo from elsewhere (a flat lay, a packshot) often
lands among other kinds of products; a search that puts the kind the classifier names first stays
on it, and the classifier names such photos far better once it has learnt from some."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..build.kinds import KindClassifier
from ..store.index import Filters, ProductIndex, SearchResult

# Below this probability no kind is named and the photo's neighbours stand. Chosen on validation
# photos (H&M photos of product codes the photo suite trains on, held-out Myntra photos): from 0.5
# to 0.2 the same-kind P@10 of a classifier taught with other shops' photos went 0.53 -> 0.73, a
# catalogue-only one 0.35 -> 0.34, and catalogue photos stayed at 0.87.
CONFIDENCE = 0.2


@dataclass
class PhotoResults:
    """A photo's search: ``kind`` is the article type the photo was taken to show, whose products
    come first (None when a filter already names the kind or the classifier was unsure)."""

    results: list[SearchResult] = field(default_factory=list)
    kind: str | None = None
    confidence: float = 0.0


def kind_first(index: ProductIndex, vector: np.ndarray, photo: np.ndarray,
               kinds: KindClassifier | None, k: int = 10, filters: Filters | None = None,
               exclude: Sequence[str] = ()) -> PhotoResults:
    """The ``k`` products nearest a photo (``vector`` fused, ``photo`` shared-space), those of
    the kind the classifier names first, then the nearest of other kinds. A filter that already
    names an article type, or a guess under ``CONFIDENCE``, leaves the plain nearest."""
    filters = filters or Filters()
    open_kind = kinds is not None and filters.article_type is None and filters.category is None
    kind, p = kinds.predict(photo)[0] if open_kind else (None, 0.0)
    if kind is None or p < CONFIDENCE:
        return PhotoResults(index.search(vector, k, filters, exclude), None, p)
    results = index.search(vector, k, dataclasses.replace(filters, article_type=kind), exclude)
    if len(results) < k:
        results += index.search(vector, k - len(results), filters,
                                [*exclude, *(r.id for r in results)])
    return PhotoResults(results, kind, p)
