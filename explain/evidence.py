"""The evidence for one (query, product) match, in one JSON-serialisable record: similarity per
modality, the photo regions (Grad-CAM) and words (integrated gradients) that drove it, the
attributes the product shares with the query, the modifier's constraints it satisfies, the
catalogue cluster it belongs to, and for a complete-the-look result why its category goes with the
anchor's."""
from __future__ import annotations

import base64
import copy
import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from retrieval import LookItem, Modifier, Product, Searcher, SearchResult, in_words, normalise, open_rgb, slot, unit

from .gradcam import HeatMap, IntegratedGradientsMap, OcclusionMap, SimilarityCAM
from .instructions import is_instruction, without_instructions
from .tokens import DEFAULT_STEPS, TextAttributor, TokenAttribution

QUERY_CACHE = 32
HEATMAPS = {"occlusion": OcclusionMap, "ig": IntegratedGradientsMap, "gradcam": SimilarityCAM}
# A word holding code characters, or shaped like a link, is never quoted as evidence.
CODE_CHARS = re.compile(r"[{}\[\]()<>\"=|\\`$@]|://|\w\.\w")
FIELDS = ("gender", "article_type", "colour", "usage", "season", "brand")
# Fields and free attributes in which a product can stand out from the others on screen.
CONTRAST_FIELDS = ("colour", "article_type", "brand", "usage")
CONTRAST_ATTRIBUTES = ("fabric", "material", "pattern", "fit", "sleeve length", "neck")
SHARED_SAID = 3         # shared attributes an explanation may cite (each is read before it writes)


@dataclass
class Query:
    kind: str                            # text, image, item, composed, look, popular
    text: str | None = None              # the query text or the modifier
    product_id: str | None = None        # the reference / anchor product
    image_path: str | None = None
    filters: dict = field(default_factory=dict)     # the turn's active filters (field -> value)


@dataclass
class Evidence:
    query: Query
    product: dict                         # id, title and the product's fields
    score: float | None                   # the ranking score of the match (None: not ranked)
    similarity: dict[str, float]          # query vs the product's image / text / both
    shared: dict[str, str]                # attributes the product shares with the query
    constraints: list[str] = field(default_factory=list)     # a modifier's, all satisfied
    complement: dict | None = None        # style, complementarity, popularity, reason
    cluster: dict | None = None           # label, name, same_as_reference
    heatmap: HeatMap | None = None
    product_words: TokenAttribution | None = None
    query_words: TokenAttribution | None = None
    costs: dict[str, float] = field(default_factory=dict)    # seconds, and the IG steps
    popularity: float | None = None       # a most-bought pick: its popularity in [0, 1]
    asked: dict[str, str] = field(default_factory=dict)     # what the turn asked for, by field
    region: str | None = None             # where on the photo the heat-map's weight lies
    standout: Standout | None = None      # how it differs from the others shown
    reference: dict | None = None         # the viewed or anchor product's fields
    budget: tuple[float | None, float | None] | None = None   # the price bounds asked for

    def facts(self) -> list[str]:
        """The claims an explanation may make, one short line each (what the LLM is given): few
        lines with short labels, since every token of them is read before the first word is
        written (3.3 ms each on 2 cores), and none a shopper cannot read (the similarity scores,
        the query words' weights, and the catalogue group unless it is the viewed product's, are
        in the evidence panel, not the text)."""
        lines, shared = [], dict(self.shared)
        if self.query.kind == "composed" and self.asked:
            lines.append("asked to change: " + in_pairs(self.asked))
        elif self.asked:
            has = {k: v for k, v in self.asked.items() if str(shared.get(k, "")).lower() == v.lower()}
            rest = {k: v for k, v in self.asked.items() if k not in has}
            for k in has:
                shared.pop(k)
            if has:
                lines.append("asked for and has: " + in_pairs(has))
            if rest:
                lines.append("asked for: " + in_pairs(rest))
        if shared:
            lines.append("both have: " + in_pairs(dict(list(shared.items())[:SHARED_SAID])))
        lines += [f"satisfies: {c}" for c in self.constraints]
        lines += self.standout.lines() if self.standout else []
        if self.region:
            lines.append(f"photo matched most: {self.region}")
        if self.popularity is not None:
            lines.append(f"among the most bought (popularity {self.popularity:.2f} of 1)")
        if self.cluster and self.cluster.get("same_as_reference"):    # else the panel shows it
            lines.append(f"same catalogue group as the viewed product: {self.cluster['name']}")
        if self.complement:
            lines.append(f"goes with it: {self.complement['reason']}")
        words = self.matched_product_words()
        if words:
            lines.append(f"words that matched: {', '.join(words)}")
        return lines

    def matched_product_words(self, n: int = 3) -> list[str]:
        """The most positively attributed words of the product's text that the shopper's
        request also holds, or that are the product's own field values (colour, type, brand...),
        each once ("Floater" and "floaters" are one word).
        Words only the title, a free attribute or the description holds are not quoted: that is
        where a shop's free text, and any instruction planted in it, lives. Never a word inside
        an instruction-like sentence or holding code characters."""
        if not self.product_words:
            return []
        p = self.product
        fields = [str(v) for k, v in p.items() if k in FIELDS]
        known = set(normalise(" ".join(map(without_instructions, fields))).split())
        known |= set(normalise(without_instructions(self.query.text or "")).split())
        out, seen = [], set()
        for w in self.product_words.top(len(self.product_words.words)):
            norm = normalise(w.word).split()
            key, word = " ".join(norm), w.word.strip(".,;:()\"'")
            if norm and all(t in known for t in norm) and key not in seen and not CODE_CHARS.search(word):
                out.append(word)
                seen.add(key)
            if len(out) == n:
                break
        return out

    @classmethod
    def from_json(cls, data: dict) -> Evidence:
        """Evidence as ``to_json`` stored it (a card's, a review's), without the heat-map and word
        weights: what claims are chosen from."""
        s = data.get("standout")
        return cls(Query(**data["query"]), data["product"], data.get("score"), data.get("similarity") or {},
                   data.get("shared") or {}, list(data.get("constraints") or []), data.get("complement"),
                   data.get("cluster"), popularity=data.get("popularity"), asked=data.get("asked") or {},
                   region=data.get("region"), reference=data.get("reference"),
                   budget=tuple(data["budget"]) if data.get("budget") else None,
                   standout=Standout(s["shown"], s["values"], tuple(s["cheapest"]) if s["cheapest"] else None)
                   if s else None)

    def to_json(self, heatmap_png: bytes | None = None) -> dict:
        out = {"query": asdict(self.query), "product": self.product, "score": self.score,
               "similarity": self.similarity, "shared": self.shared,
               "constraints": self.constraints, "complement": self.complement,
               "cluster": self.cluster, "popularity": self.popularity, "asked": self.asked,
               "region": self.region, "standout": asdict(self.standout) if self.standout else None,
               "reference": self.reference, "budget": list(self.budget) if self.budget else None,
               "product_words": self.product_words.to_json() if self.product_words else None,
               "query_words": self.query_words.to_json() if self.query_words else None,
               "costs": self.costs}
        if self.heatmap is not None:
            out["heatmap"] = {"shape": list(self.heatmap.cam.shape),
                              "similarity": self.heatmap.similarity,
                              "peak": [int(i) for i in np.unravel_index(
                                  int(self.heatmap.cam.argmax()), self.heatmap.cam.shape)],
                              "empty": self.heatmap.empty}
            if heatmap_png is not None:
                out["heatmap"]["png_base64"] = base64.b64encode(heatmap_png).decode()
        return out


def product_fields(p: Product, longest_name: int | None = None) -> dict:
    """The product as evidence: id, title, the name explanations call it by, its fields."""
    return {"id": p.id, "title": p.title, "name": display_name(p, longest_name),
            **{f: getattr(p, f) for f in FIELDS if getattr(p, f)},
            **({"price": p.price} if p.price is not None else {}),
            "attributes": dict(p.attributes)}


def display_name(p: Product, longest: int | None = None) -> str:
    """What an explanation calls the product: its title when that is name-shaped (nothing
    instruction-like in it, at most ``longest`` words), else its brand, colour and type. A shop's
    free text appended to a title never reaches the LLM or the template this way."""
    title = " ".join((p.title or "").split())
    if title and not is_instruction(title) and (longest is None or len(title.split()) <= longest):
        return title
    structured = " ".join(v for v in (p.brand, p.colour, p.article_type) if v)
    cut = without_instructions(title).split()[:longest or None]
    return structured or " ".join(cut) or "This product"


def shared_attributes(product: Product, reference: Product | None = None,
                      mentioned: dict[str, str] | None = None) -> dict[str, str]:
    """Fields where the product has the reference's value or the value the query text names."""
    shared = {}
    for f in FIELDS:
        value = getattr(product, f)
        if not value:
            continue
        if reference is not None and getattr(reference, f) == value:
            shared[f] = value
        elif mentioned and str(mentioned.get(f, "")).lower() == str(value).lower():
            shared[f] = value
    attrs = {k.lower(): v for k, v in product.attributes.items()}
    for name, value in (mentioned or {}).items():
        if name not in FIELDS and value and any(value.lower() in v.lower() for v in attrs.values()):
            shared[name] = value
    if reference is not None:
        for name, value in reference.attributes.items():
            if product.attributes.get(name) == value:
                shared[name.lower()] = value
    return shared


def in_pairs(values: dict[str, str]) -> str:
    """{"article_type": "Shirts", "colour": "Blue"} -> "article type Shirts, colour Blue"."""
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in values.items())


@dataclass
class Standout:
    """How a product stands out from the others shown with it: ``shown`` products in all (itself
    included), the field and attribute ``values`` none of the others has, and ``cheapest``: its
    price and the next lowest when it costs less than every other."""

    shown: int
    values: dict[str, str] = field(default_factory=dict)
    cheapest: tuple[float, float] | None = None

    def lines(self) -> list[str]:
        """The standout as evidence lines."""
        out = []
        if self.values:
            out.append(f"none of the other {self.shown - 1} shown has: {in_pairs(self.values)}")
        if self.cheapest:
            out.append(f"lowest price of the {self.shown} shown: {self.cheapest[0]:g} (next {self.cheapest[1]:g})")
        return out


def standout(product: Product, others: Sequence[Product]) -> Standout | None:
    """How ``product`` stands out from the other products shown with it (None with fewer than two
    others): the field and material values none of them has, and the lowest price."""
    others = [o for o in others if o.id != product.id]
    if len(others) < 2:
        return None
    values = {f: getattr(product, f) for f in CONTRAST_FIELDS
              if getattr(product, f) and all(getattr(o, f) != getattr(product, f) for o in others)}
    mine = {k.lower(): v for k, v in product.attributes.items() if k.lower() in CONTRAST_ATTRIBUTES}
    for name, value in mine.items():
        theirs = [{k.lower(): v for k, v in o.attributes.items()}.get(name) for o in others]
        if value and all(str(t or "").lower() != str(value).lower() for t in theirs):
            values[name] = value
    prices = [o.price for o in others if o.price is not None]
    cheapest = None
    if product.price is not None and len(prices) == len(others) and product.price < min(prices):
        cheapest = (float(product.price), float(min(prices)))
    return Standout(len(others) + 1, values, cheapest)


def price_bounds(query: Query, modifier: Modifier | None) -> tuple[float | None, float | None] | None:
    """The price bounds the turn asked for: its filters', else those its text names."""
    low, high = query.filters.get("price_min"), query.filters.get("price_max")
    if low is None and high is None and modifier is not None and modifier.price == "range":
        low, high = modifier.price_min, modifier.price_max
    return None if low is None and high is None else (low, high)


def asked_for(query: Query, modifier: Modifier | None) -> dict[str, str]:
    """What the turn asked for, by field: the catalogue values and price its text names
    (``modifier``: the text parsed as the search parsed it, None without text) and the active
    filters, in words."""
    asked = {}
    if modifier is not None:
        asked = {f: in_words(v) for f, v in modifier.values.items()}
        if modifier.price == "range":
            low, high = modifier.price_min, modifier.price_max
            asked["price"] = (f"{low:g} to {high:g}" if low is not None and high is not None else
                              f"up to {high:g}" if high is not None else f"from {low:g}")
        elif modifier.price:
            asked["price"] = modifier.price
    for name, value in query.filters.items():
        key = {"price_min": "price", "price_max": "price"}.get(name, name)
        words = f"{value:g}" if isinstance(value, (int, float)) else in_words(
            value if isinstance(value, str) else tuple(value))
        if name == "price_max":
            words = f"up to {words}"
        elif name == "price_min":
            words = f"from {words}"
        asked.setdefault(key, words)
    return asked


def complement_reason(look: LookItem, anchor: Product, source: str) -> dict:
    p = look.result.product
    kinds = f"{p.article_type or 'this'} with {anchor.article_type or 'the anchor'}"
    if source == "learned":
        reason = f"{kinds}: often bought together (learned from purchases)"
    else:
        reason = (f"{kinds}: {slot(p) or 'item'} completes {slot(anchor) or 'the anchor'} "
                  "(outfit rules: no clash, gender, usage and season compatible)")
    if look.copurchase > 0:
        reason += (f"; shoppers bought it with products that look like the "
                   f"{(anchor.article_type or 'anchor').lower()}")
    return {"style": look.style, "complementarity": look.complementarity,
            "popularity": look.popularity, "copurchase": look.copurchase, "pair": look.pair,
            "source": source, "reason": reason, "kind": p.article_type, "slot": slot(p),
            "anchor_kind": anchor.article_type, "anchor_slot": slot(anchor)}


class Explainer:
    """Builds ``Evidence`` for matches of one searcher; the heat-map and attribution models are
    set up once. ``steps`` (integrated-gradients steps) bounds the cost of token attributions;
    ``heatmap`` is one of ``HEATMAPS``: ``occlusion`` (16 px squares painted white, ~0.16 s, the
    most faithful in the ``faithfulness`` benchmark), ``ig`` (integrated gradients along the
    white-fill and blur removals, ~0.1 s) or ``gradcam`` (LayerCAM, ~30 ms).

    Thread-safe: the heat-map and word attributions hook into the towers' layers, so they run on
    a copy of the encoder (searches on the searcher's own encoder never pass through a hook), one
    match at a time."""

    def __init__(self, searcher: Searcher, steps: int = DEFAULT_STEPS, heatmap: str = "occlusion"):
        self.searcher = searcher
        if heatmap not in HEATMAPS:
            raise ValueError(f"heatmap must be one of {', '.join(HEATMAPS)}, not {heatmap!r}")
        encoder = copy.deepcopy(searcher.encoder)
        self.cam = HEATMAPS[heatmap](encoder)
        self.words = TextAttributor(encoder, steps)
        self.lock = threading.Lock()
        self._vectors: dict[tuple, np.ndarray] = {}      # recent query vectors (insertion order)
        self._cache_lock = threading.Lock()

    @functools.cached_property
    def longest_name(self) -> int:
        """Titles longer than twice the catalogue's median title (in words) are not names: a
        median is not moved by a minority of padded titles."""
        lengths = [len(str(t).split()) for t in self.searcher.index.titles()]
        return 2 * int(np.median(lengths)) if lengths else 12

    def shared_vector(self, product_id: str) -> np.ndarray:
        """A product in the shared space: the mean of its image and text embeddings."""
        image, text, has_image, has_text = self.searcher.index.embedding(product_id)
        parts = [v for v, ok in ((image, has_image), (text, has_text)) if ok]
        return unit(np.mean(parts, axis=0))

    def query_vector(self, query: Query) -> np.ndarray:
        """The query in the shared space; the last few are kept, since every product of one
        answer is explained against the same query."""
        key = (query.kind, query.text, query.product_id, query.image_path)
        vector = self._vectors.get(key)
        if vector is None:
            vector = self._encode_query(query)
            with self._cache_lock:
                if len(self._vectors) >= QUERY_CACHE:
                    self._vectors.pop(next(iter(self._vectors)))
                self._vectors[key] = vector
        return vector

    def _encode_query(self, query: Query) -> np.ndarray:
        enc = self.searcher.encoder
        if query.kind == "text":
            return enc.encode_texts([query.text])[0]
        if query.kind == "image" or (query.kind == "composed" and query.image_path):
            ref = enc.encode_images([open_rgb(query.image_path)[0]])[0]
        else:
            ref = self.shared_vector(query.product_id)
        if query.kind == "composed":
            return unit(ref + enc.encode_texts([query.text])[0])
        return ref

    def __call__(self, query: Query, result: SearchResult | LookItem,
                 source: str | None = None, attributions: bool = True,
                 others: Sequence[Product] = ()) -> Evidence:
        """The evidence for one match; ``attributions=False`` leaves out the heat-map and word
        weights (the costly parts) and keeps the facts. ``others``: the products shown with it
        (what it stands out from)."""
        look = result if isinstance(result, LookItem) else None
        result = look.result if look else result
        index, product = self.searcher.index, result.product
        if query.kind == "popular":            # ranked by purchases alone: nothing to attribute
            label, name = self.searcher.cluster_of(product.id)
            return Evidence(query, product_fields(product, self.longest_name), result.score, {}, {},
                            cluster={"label": label, "name": name}, popularity=result.score,
                            asked=asked_for(query, None), standout=standout(product, others),
                            budget=price_bounds(query, None))
        q = self.query_vector(query)
        image, text, has_image, has_text = index.embedding(product.id)
        similarity = {}
        if has_image:
            similarity["image"] = float(image @ q)
        if has_text:
            similarity["text"] = float(text @ q)
        costs: dict[str, float] = {}
        heatmap = product_words = query_words = region = None
        if attributions:
            with self.lock:
                if has_image and product.image_path:
                    photo = open_rgb(product.image_path)[0]
                    heatmap = self.cam(photo, q)
                    costs["heatmap_s"] = heatmap.seconds
                    region = heatmap.region(photo)
                if has_text:
                    product_words = self.words(product.text, q)
                    costs["product_words_s"] = product_words.seconds
                if query.text and query.kind in ("text", "composed"):
                    query_words = self.words(query.text, self.shared_vector(product.id))
                    costs["query_words_s"] = query_words.seconds
            costs["ig_steps"] = self.words.steps
        reference = index.product(query.product_id) if query.product_id else None
        mentioned, constraints, modifier = None, [], None
        if query.text and query.kind in ("text", "composed"):
            modifier = self.searcher.vocabulary.parse(query.text)
            mentioned = dict(modifier.values)
            if query.kind == "composed":
                constraints = modifier.describe()
        complement = None
        if look is not None and reference is not None:
            complement = complement_reason(look, reference, source or "rules")
        label, name = self.searcher.cluster_of(product.id)
        cluster = {"label": label, "name": name}
        if reference is not None:
            cluster["same_as_reference"] = self.searcher.cluster_of(reference.id)[0] == label
        score = look.score if look else result.score
        return Evidence(query, product_fields(product, self.longest_name), None if score is None else float(score),
                        similarity, shared_attributes(product, reference, mentioned), constraints,
                        complement, cluster, heatmap, product_words, query_words, costs,
                        asked=asked_for(query, modifier), region=region,
                        standout=standout(product, others),
                        reference=product_fields(reference, self.longest_name) if reference else None,
                        budget=price_bounds(query, modifier))
