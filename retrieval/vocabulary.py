"""The catalogue's vocabulary: the attribute values an index holds, indexed by their normalised
phrase, and how a shopper's words ("in navy blue", "short-sleeved", "under 1500") map onto them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .index import Filters, ProductIndex

# Where a value named in the text must be found: index columns, then product attributes.
COLUMN_FIELDS = ("gender", "article_type", "colour", "usage", "season")
ATTRIBUTE_FIELDS = {"fabric": ("fabric", "material"), "pattern": ("pattern", "print or pattern type"),
                    "sleeve": ("sleeve length",), "fit": ("fit",), "neck": ("neck", "collar")}
# Materials shoppers name that a catalogue may only mention in titles or descriptions; each one
# joins the vocabulary when at least one product's text mentions it.
MATERIALS = ("linen", "cotton", "denim", "silk", "wool", "woollen", "leather", "suede", "velvet",
             "satin", "chiffon", "georgette", "khadi", "jute", "canvas", "corduroy", "fleece",
             "polyester", "nylon", "rayon", "viscose", "lycra", "cashmere", "crepe", "lace")
GENDERS = ("Men", "Women", "Boys", "Girls", "Unisex")
CHEAPER = re.compile(r"\b(cheaper|less expensive|lower price|more affordable|budget)\b")
PRICIER = re.compile(r"\b(pricier|more expensive|premium|higher end)\b")
UNDER = re.compile(r"\b(?:under|below|less than|max(?:imum)?)\s*(?:rs\.?|inr|₹|\$)?\s*(\d[\d,]*)")


def normalise(phrase: str) -> str:
    """Lower case, hyphens as spaces, plural and -ed endings folded ("Short-Sleeved" = "short sleeve")."""
    words = re.sub(r"[^a-z0-9 ]+", " ", phrase.lower().replace("'s", "")).split()
    out = []
    for w in words:
        if len(w) > 4 and w.endswith("ed") and not w.endswith("eed"):
            w = w[:-1] if w.endswith("ved") else w[:-2]       # sleeved -> sleeve, checked -> check
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return " ".join(out)


def price_limit(text: str) -> float | None:
    """The upper price bound ``text`` names ("under 1,500" -> 1500.0), if any."""
    m = UNDER.search(text.lower())
    return float(m.group(1).replace(",", "")) if m else None


@dataclass
class Modifier:
    """What a modifier asks for: catalogue values by field, a price bound, and its text."""

    text: str
    values: dict[str, str] = field(default_factory=dict)   # field -> catalogue value
    price: str | None = None                                 # "cheaper", "pricier" or "under"
    price_limit: float | None = None

    def describe(self) -> list[str]:
        parts = [f"{f.replace('_', ' ')}: {v}" for f, v in self.values.items()]
        if self.price == "under":
            parts.append(f"price <= {self.price_limit:g}")
        elif self.price:
            parts.append(f"{self.price} than the reference")
        return parts


class Vocabulary:
    """The attribute values a catalogue has, indexed by their normalised phrase."""

    def __init__(self, index: ProductIndex):
        self.phrases: dict[str, tuple[str, str]] = {}
        for f in COLUMN_FIELDS:
            for value in index.distinct(f):
                self.phrases.setdefault(normalise(value), (f, value))
        names = {n: f for f, ns in ATTRIBUTE_FIELDS.items() for n in ns}
        for product in index.products_where():
            for name, value in (product.attributes or {}).items():
                f = names.get(name.lower())
                if f and value:
                    self.phrases.setdefault(normalise(value), (f, value))
        for word in MATERIALS:
            if normalise(word) not in self.phrases and index.has(Filters(mentions=[word])):
                self.phrases[normalise(word)] = ("fabric", word.capitalize())
        for value in GENDERS:
            self.phrases.setdefault(normalise(value), ("gender", value))
        # Longest phrases first, so "navy blue" wins over "blue".
        self._ordered = sorted(self.phrases, key=lambda p: (-len(p.split()), -len(p)))

    def values(self, field_name: str) -> list[str]:
        """The catalogue's values of one field, sorted."""
        return sorted({v for f, v in self.phrases.values() if f == field_name})

    def value(self, field_name: str, text: str) -> str | None:
        """The catalogue's spelling of ``text`` as a value of ``field_name`` ("navy blue" ->
        "Navy Blue"), or None when the catalogue has no such value."""
        known = self.phrases.get(normalise(text))
        return known[1] if known is not None and known[0] == field_name else None

    def without_values(self, text: str) -> str:
        """``text`` (normalised) with the catalogue values it names taken out."""
        norm = f" {normalise(text)} "
        for phrase in self._ordered:
            if phrase and f" {phrase} " in norm:
                norm = norm.replace(f" {phrase} ", " ")
        return norm

    def parse(self, text: str) -> Modifier:
        mod = Modifier(text=text)
        norm = f" {normalise(text)} "
        for phrase in self._ordered:
            if phrase and f" {phrase} " in norm:
                f, value = self.phrases[phrase]
                if f not in mod.values:
                    mod.values[f] = value
                norm = norm.replace(f" {phrase} ", " ")
        lowered = text.lower()
        if (limit := price_limit(text)) is not None:
            mod.price, mod.price_limit = "under", limit
        elif CHEAPER.search(lowered):
            mod.price = "cheaper"
        elif PRICIER.search(lowered):
            mod.price = "pricier"
        return mod
