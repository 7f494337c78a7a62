"""Composed queries: a reference (product or photo) plus a change in words ("in linen", "but blue",
"with short sleeves", "for women", "cheaper").

The modifier is parsed against the attribute values the catalogue actually has; a value it names
becomes a constraint every result satisfies, and the rest of the reference (article type, gender)
is kept unless the modifier changes it. Ranking then follows the two-stage recipe: candidates by
the equal-weight sum of the reference and modifier vectors, re-ranked by a sum weighted toward
the text.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..store.index import Filters, ProductIndex, SearchResult
from ..store.products import Product
from ..store.vectors import unit
from .vocabulary import ATTRIBUTE_FIELDS, Modifier, Value, Vocabulary

KEPT = ("article_type", "gender")         # what a result keeps of the reference by default


def _any(value: Value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def constraints(mod: Modifier, reference: Product | None, base: Filters | None = None,
                keep: Sequence[str] = KEPT) -> Filters:
    """Filters every result must pass: the modifier's values (several values of a field: any of
    them), and what ``keep`` names of the reference (its article type and gender) unless the
    modifier names others."""
    f = replace(base) if base else Filters()
    values = mod.values
    if "article_type" in values:
        f.article_type = values["article_type"]
    elif reference is not None and reference.article_type and "article_type" in keep:
        f.article_type = reference.article_type
    if "gender" in values:
        genders = _any(values["gender"])
        f.gender = genders if genders == ["Unisex"] else [*genders, "Unisex"]
    elif reference is not None and reference.gender and "gender" in keep:
        f.gender = reference.gender
    if "colour" in values:
        f.colour = values["colour"]
    mentions = list(f.mentions or [])
    for name in ("usage", "season"):
        if name in values:
            mentions.append([f"{name}: {v}" for v in _any(values[name])])
    for name in ATTRIBUTE_FIELDS:
        if name in values:
            mentions.append(_any(values[name]))
    f.mentions = mentions or None
    if mod.price == "range":
        f.price_min, f.price_max = mod.price_min, mod.price_max
    elif reference is not None and reference.price and mod.price == "cheaper":
        f.price_max = reference.price - 0.01
    elif reference is not None and reference.price and mod.price == "pricier":
        f.price_min = reference.price + 0.01
    return f


@dataclass
class ComposedResults:
    results: list[SearchResult]
    modifier: Modifier
    filters: Filters
    query_text: str

    def to_json(self) -> dict:
        return {"results": [r.to_json() for r in self.results],
                "modifier": {"text": self.modifier.text, "constraints": self.modifier.describe()}}


def inferred_reference(index: ProductIndex, vector: np.ndarray, n: int = 10) -> Product:
    """For a photo: the article type and gender most of its ``n`` nearest products share, with
    the category, usage and season of the nearest product of that type."""
    near = [r.product for r in index.search(vector, n)]
    majority = {f: Counter(getattr(p, f) for p in near if getattr(p, f)).most_common(1)
                for f in ("article_type", "gender")}
    kind, gender = (m[0][0] if m else None for m in majority.values())
    like = next((p for p in near if p.article_type == kind), None)
    return Product(id="", article_type=kind, gender=gender,
                   **{f: getattr(like, f) if like else None
                      for f in ("category", "subcategory", "usage", "season")})


def composed_search(index: ProductIndex, reference_vector: np.ndarray,
                    text_vector_of: Callable[[str], np.ndarray], modifier: str,
                    reference: Product | None = None, k: int = 10, filters: Filters | None = None,
                    vocabulary: Vocabulary | None = None, candidates: int = 200,
                    text_weight: float = 0.65, exclude: Sequence[str] = (),
                    keep: Sequence[str] = KEPT) -> ComposedResults:
    """Two-stage composed retrieval.

    ``reference_vector`` is the reference in the fused space; ``text_vector_of(text)`` maps text
    into the same space. Stage 1 takes ``candidates`` products by the equal-weight sum, among those
    that satisfy the constraints; stage 2 re-ranks them by ``(1 - text_weight) * reference +
    text_weight * text``. Neither the reference nor ``exclude`` is ever returned.
    """
    if not modifier or not modifier.strip():
        raise ValueError("empty modifier")
    vocabulary = vocabulary or Vocabulary(index)
    mod = vocabulary.parse(modifier)
    f = constraints(mod, reference, filters, keep)
    subject = reference.article_type if reference is not None and reference.article_type \
        and "article_type" in keep else ""
    query_text = f"{modifier.strip()} {subject}".strip()
    ref = unit(np.asarray(reference_vector, dtype=np.float32))
    txt = unit(np.asarray(text_vector_of(query_text), dtype=np.float32))
    exclude = [*([reference.id] if reference is not None and reference.id else []), *exclude]
    pool = index.search(unit(ref + txt), max(candidates, k), f, exclude=exclude)
    if not pool:
        return ComposedResults([], mod, f, query_text)
    target = unit((1 - text_weight) * ref + text_weight * txt)
    scores = index.vectors_by_key([r.key for r in pool]) @ target
    order = np.argsort(-scores)[:k]
    results = [replace(pool[i], score=float(scores[i])) for i in order]
    return ComposedResults(results, mod, f, query_text)
