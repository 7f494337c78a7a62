"""Complete the look: products from other, compatible categories, ranked by
``score = a * style + b * complementarity + c * popularity + d * co-purchases + e * pair model``.

- *style* is the cosine similarity of the two products' fused vectors;
- *complementarity* is how well the candidate's category goes with the anchor's. It is learned
  from co-purchases (pairs of products bought together) as a category-to-category table, and
  falls back to outfit rules from the catalogue's category tree where nothing was learned for the
  anchor's category: slots that do not clash (no second shirt, no trousers with a dress), gender,
  usage and season compatible;
- *popularity* is how often the candidate was bought with anything (log-scaled to [0, 1]; 0
  without purchase data);
- *co-purchases* are the candidate's purchases with the anchor's nearest neighbours
  (``CoPurchases.spread``: a product never bought inherits those of the products it looks like);
- *pair model* is the learned type-aware compatibility of the two products (``PairModel``).

The last two exist for indexes built with purchase data; the weights (``LookWeights``) are the
ones the complement suite chose on validation anchors.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..store.index import Filters, ProductIndex, SearchResult
from ..store.products import Product
from ..store.vectors import unit

if TYPE_CHECKING:
    from .copurchase import CoPurchases, PairModel

# Outfit slots by category name (master category, subcategory or product group; lower case).
SLOTS = {
    "topwear": "top", "garment upper body": "top",
    "bottomwear": "bottom", "garment lower body": "bottom",
    "dress": "full", "saree": "full", "apparel set": "full", "garment full body": "full",
    "shoes": "feet", "flip flops": "feet", "sandal": "feet",
}
# Never part of a look: categories one does not wear with an outfit, or wears under it.
NOT_OUTFIT = {"innerwear", "loungewear and nightwear", "nightwear", "underwear", "personal care",
              "fragrance", "lips", "makeup", "nails", "skin", "skin care", "eyes", "hair",
              "bath and body", "beauty accessories", "free items", "free gifts", "home",
              "home furnishing", "sports equipment", "vouchers", "cosmetic", "stationery",
              "garment and shoe care", "unknown", "items", "swimwear", "water bottle", "umbrellas"}
CLASHES = {"top": {"top", "full"}, "bottom": {"bottom", "full"}, "full": {"top", "bottom", "full"},
           "feet": {"feet"}}
# How strongly a slot completes another under the rules (pairs not listed: accessories, 0.7).
RULE_PRIOR = {frozenset({"top", "bottom"}): 1.0, frozenset({"top", "feet"}): 0.9,
              frozenset({"bottom", "feet"}): 0.9, frozenset({"full", "feet"}): 1.0}
ACCESSORY_PRIOR = 0.7
USAGE_GROUPS = ({"casual", "smart casual", "travel", "party", "sports"},
                {"formal", "smart casual", "party"}, {"ethnic", "party"}, {"home"})
SEASON_CLASHES = {frozenset({"summer", "winter"})}
KIDS = {"boys", "girls", "kids"}
LOOKALIKES = 200     # nearest products whose co-purchases an anchor inherits (the best 100 bought)


def _names(p: Product) -> list[str]:
    return [v.lower() for v in (p.subcategory, p.category, p.article_type) if v]


def slot(p: Product) -> str | None:
    """``top``, ``bottom``, ``full``, ``feet``, ``accessory:<kind>``, or None (not worn in a look)."""
    names = _names(p)
    if any(n in NOT_OUTFIT for n in names):
        return None
    for n in names:
        if n in SLOTS:
            return SLOTS[n]
    return f"accessory:{(p.article_type or p.subcategory or '?').lower()}"


def genders_compatible(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return True
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    if (a in KIDS) != (b in KIDS):
        return False
    return "unisex" in (a, b) or (a in KIDS and b in KIDS)


def usages_compatible(a: str | None, b: str | None) -> bool:
    if not a or not b or a.lower() == b.lower():
        return True
    return any(a.lower() in g and b.lower() in g for g in USAGE_GROUPS)


def seasons_compatible(a: str | None, b: str | None) -> bool:
    return not a or not b or frozenset({a.lower(), b.lower()}) not in SEASON_CLASHES


def rule_score(anchor: Product, candidate: Product) -> float:
    """Complementarity under the outfit rules: 0 when the pair clashes, else the slot prior."""
    sa, sb = slot(anchor), slot(candidate)
    if sb is None or (anchor.article_type and anchor.article_type == candidate.article_type):
        return 0.0
    if not (genders_compatible(anchor.gender, candidate.gender)
            and usages_compatible(anchor.usage, candidate.usage)
            and seasons_compatible(anchor.season, candidate.season)):
        return 0.0
    if sa is None:
        return ACCESSORY_PRIOR if sb.startswith("accessory:") else 0.0
    if sb in CLASHES.get(sa, {sa}):
        return 0.0
    return RULE_PRIOR.get(frozenset({sa, sb}), ACCESSORY_PRIOR)


@dataclass
class Complementarity:
    """Category-to-category complementarity in [0, 1] learned from co-purchases.

    ``table[a][b]`` is P(category b | category a) among co-purchases, smoothed toward the overall
    share of b and divided by the row's maximum; ``support[a]`` counts the co-purchases seen for
    a. A category with less than ``min_support`` co-purchases uses the rules. Saved beside an
    index built with purchase data (``complement.json``).
    """

    FILE: ClassVar[str] = "complement.json"
    table: dict[str, dict[str, float]] = field(default_factory=dict)
    support: dict[str, int] = field(default_factory=dict)
    min_support: int = 20
    popularity: dict[str, float] = field(default_factory=dict)     # product id -> [0, 1]

    @classmethod
    def learn(cls, pairs: Iterable[tuple[str, str]], category_of: dict[str, str | None],
              smoothing: float = 5.0, min_support: int = 20) -> Complementarity:
        """From (product id, product id) co-purchases; both directions count."""
        counts: dict[str, Counter] = defaultdict(Counter)
        bought: Counter = Counter()
        for a, b in pairs:
            bought[a] += 1
            bought[b] += 1
            ca, cb = category_of.get(a), category_of.get(b)
            if ca and cb:
                counts[ca][cb] += 1
                counts[cb][ca] += 1
        overall = Counter()
        for row in counts.values():
            overall.update(row)
        total = sum(overall.values()) or 1
        table, support = {}, {}
        for a, row in counts.items():
            n = sum(row.values())
            probs = {b: (row.get(b, 0) + smoothing * overall[b] / total) / (n + smoothing)
                     for b in overall}
            top = max(probs.values())
            table[a] = {b: round(p / top, 6) for b, p in probs.items() if p / top >= 1e-4}
            support[a] = n
        top = np.log1p(max(bought.values(), default=1))
        popularity = {pid: round(float(np.log1p(n) / top), 6) for pid, n in bought.items()}
        return cls(table, support, min_support, popularity)

    def knows(self, category: str | None) -> bool:
        return bool(category) and self.support.get(category, 0) >= self.min_support

    def score(self, anchor: Product, candidate: Product) -> float:
        if self.knows(anchor.article_type):
            return self.table[anchor.article_type].get(candidate.article_type or "", 0.0)
        return rule_score(anchor, candidate)

    def category_score(self, anchor: Product, candidate: Product) -> float:
        """Complementarity of the two categories alone (gender, usage and season not checked)."""
        return self.score(_category_only(anchor), _category_only(candidate))

    def source(self, anchor: Product) -> str:
        return "learned" if self.knows(anchor.article_type) else "rules"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    def save(self, folder: Path) -> None:
        (Path(folder) / self.FILE).write_text(self.to_json())

    @classmethod
    def load(cls, folder: Path) -> Complementarity:
        return cls(**json.loads((Path(folder) / cls.FILE).read_text()))


@dataclass(frozen=True)
class LookWeights:
    """``score = style * similarity + complementarity * category complementarity
    + popularity * co-purchase popularity + copurchase * neighbours' co-purchases
    + pair * pair model``."""

    style: float = 0.5
    complementarity: float = 0.5
    popularity: float = 0.0
    copurchase: float = 0.0
    pair: float = 0.0


# The complement suite's choice on validation anchors, with the per-type and per-slot caps
# (docs/results/report.md, 2026-12-02); without purchase data the last three terms are 0 and the
# outfit rules weigh as much as style.
WITH_PURCHASES = LookWeights(0.3846, 0.0385, 0.1154, 0.3846, 0.0769)
WITHOUT_PURCHASES = LookWeights(0.5, 0.5)


@dataclass
class LookItem:
    result: SearchResult
    style: float
    complementarity: float
    popularity: float
    score: float
    copurchase: float = 0.0
    pair: float = 0.0

    def to_json(self) -> dict:
        return {**self.result.to_json(), "article_type": self.result.product.article_type,
                **{k: round(getattr(self, k), 6) for k in
                   ("style", "complementarity", "popularity", "copurchase", "pair", "score")}}


@dataclass
class Look:
    anchor: Product
    items: list[LookItem]
    weights: LookWeights
    source: str                  # "learned" or "rules"

    def to_json(self) -> dict:
        return {"anchor": {"id": self.anchor.id, "title": self.anchor.title,
                           "article_type": self.anchor.article_type},
                "weights": asdict(self.weights), "complementarity_from": self.source,
                "items": [i.to_json() for i in self.items]}


def diverse_top(scores: np.ndarray, groups: Sequence[tuple[Sequence[str], int | None]],
                k: int) -> np.ndarray:
    """Indices of the ``k`` best scores such that, for each ``(labels, cap)`` in ``groups``, at
    most ``cap`` share a label (e.g. article types capped at 2 and outfit slots at 3)."""
    order = np.argsort(-scores, kind="stable")
    groups = [(labels, cap) for labels, cap in groups if cap is not None]
    if not groups:
        return order[:k]
    taken = [Counter() for _ in groups]
    out = []
    for i in order:
        if all(t[labels[i]] < cap for t, (labels, cap) in zip(taken, groups)):
            for t, (labels, _) in zip(taken, groups):
                t[labels[i]] += 1
            out.append(i)
            if len(out) == k:
                break
    return np.array(out, dtype=np.int64)


def category_stats(index: ProductIndex) -> list[Product]:
    """One representative per article type in the index (its most common subcategory, category
    and gender), enough to apply the category rules."""
    seen: dict[str, Product] = {}
    for article_type, sub, cat, _ in index.facet_counts("article_type", "subcategory", "category"):
        if article_type is not None:
            seen.setdefault(article_type, Product(id="", article_type=article_type,
                                                  subcategory=sub, category=cat))
    return list(seen.values())


def complete_the_look(index: ProductIndex, anchor: Product, vector: np.ndarray,
                      complementarity: Complementarity | None = None, k: int = 10,
                      weights: LookWeights = WITHOUT_PURCHASES, per_category: int | None = 2,
                      per_slot: int | None = 3, types_per_slot: int = 4,
                      per_search: int = 40, exclude: Sequence[str] = (),
                      category: str | Sequence[str] | None = None,
                      copurchases: CoPurchases | None = None,
                      pair_model: PairModel | None = None) -> Look:
    """Up to ``k`` products that complete ``anchor`` (fused-space ``vector``).

    Candidates: for each outfit slot (bottom, feet, each kind of accessory, ...) the
    ``types_per_slot`` most complementary article types are searched for the ``per_search``
    products closest in style; with ``copurchases``, the products bought with the anchor's
    nearest neighbours join them. Candidates are scored (``LookWeights``), keeping at most
    ``per_category`` of one article type and ``per_slot`` of one slot, so that a look spans
    trousers, shoes, a belt and a watch rather than ten jeans. Neither the anchor, its own
    article type (unless asked for) nor ``exclude`` is returned. ``category`` (article types,
    subcategories, categories or slots such as "feet": "what shoes go with it?") keeps only
    those kinds, without the per-type and per-slot caps.
    """
    comp = complementarity or Complementarity()
    wanted = None if category is None else {c.lower() for c in ([category] if isinstance(category, str)
                                                              else category)}
    if wanted is not None:
        per_category = per_slot = types_per_slot = None

    def kept(p: Product) -> bool:
        return wanted is None or bool(wanted & {*_names(p), slot(p) or ""})

    by_slot: dict[str, list[tuple[float, Product]]] = defaultdict(list)
    for rep in category_stats(index):
        if not kept(rep):
            continue
        c = comp.category_score(anchor, rep)
        if c > 0:
            by_slot[slot(rep) or "other"].append((c, rep))
    kinds = [rep for reps in by_slot.values()
             for _, rep in sorted(reps, key=lambda cr: -cr[0])[:types_per_slot or None]]
    skip = {*([anchor.id] if anchor.id else []), *exclude}
    found: dict[str, SearchResult] = {}
    for rep in kinds:
        for hit in index.search(vector, per_search, Filters(article_type=rep.article_type),
                                exclude=list(skip)):
            found.setdefault(hit.id, hit)
    bought: dict[str, float] = {}
    if copurchases is not None and weights.copurchase:
        near = index.search(vector, LOOKALIKES)
        bought = copurchases.spread([h.id for h in near], [h.score for h in near])
        new = sorted(pid for pid in bought.keys() - skip - found.keys() if pid in index)
        if new:
            scores = np.stack([index.vector(pid) for pid in new]) @ unit(vector)
            for hit in index.results([index.key_of(pid) for pid in new], scores.tolist()):
                if kept(hit.product):
                    found[hit.id] = hit
    same_kind = anchor.article_type if wanted is None else None      # a look needs other kinds
    candidates = [(h, c) for h in found.values()
                  if (not same_kind or h.product.article_type != same_kind)
                  and (c := comp.score(anchor, h.product)) > 0]
    if not candidates:
        return Look(anchor, [], weights, comp.source(anchor))
    style = np.array([h.score for h, _ in candidates])
    compl = np.array([c for _, c in candidates])
    pop = np.array([comp.popularity.get(h.id, 0.0) for h, _ in candidates])
    spread = np.array([bought.get(h.id, 0.0) for h, _ in candidates])
    pair = np.zeros(len(candidates))
    if pair_model is not None and weights.pair:
        pair = pair_model.score(vector, anchor.article_type,
                                np.stack([index.vector(h.id) for h, _ in candidates]),
                                [h.product.article_type for h, _ in candidates],
                                [h.id for h, _ in candidates])
    score = (weights.style * style + weights.complementarity * compl + weights.popularity * pop
             + weights.copurchase * spread + weights.pair * pair)
    types = [h.product.article_type or "" for h, _ in candidates]
    slots = [slot(h.product) or "other" for h, _ in candidates]
    top = diverse_top(score, [(types, per_category), (slots, per_slot)], k)
    items = [LookItem(candidates[i][0], float(style[i]), float(compl[i]), float(pop[i]),
                      float(score[i]), float(spread[i]), float(pair[i])) for i in top]
    return Look(anchor, items, weights, comp.source(anchor))


def _category_only(p: Product) -> Product:
    return Product(id=p.id, article_type=p.article_type, subcategory=p.subcategory,
                   category=p.category)
