"""The catalogue's vocabulary: the attribute values an index holds, indexed by their normalised
phrase, and how a shopper's words map onto them: "in navy blue", "short-sleeved", "sneakers"
(shoppers' words for the catalogue's article types, checked against the titles that use them),
"for my son" (family words), "red or maroon" (several values), "under 2k", "between 1000 and
1500" (prices)."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..store.index import Filters, ProductIndex

# Where a value named in the text must be found: index columns, then product attributes. A
# subcategory ("Shoes", "Bags", "Jewellery") is a ``category``.
COLUMN_FIELDS = ("gender", "article_type", "colour", "usage", "season", "subcategory")
ATTRIBUTE_FIELDS = {"fabric": ("fabric", "material"), "pattern": ("pattern", "print or pattern type"),
                    "sleeve": ("sleeve length",), "fit": ("fit",), "neck": ("neck", "collar")}
# Materials shoppers name that a catalogue may only mention in titles or descriptions; each one
# joins the vocabulary when at least one product's text mentions it.
MATERIALS = ("linen", "cotton", "denim", "silk", "wool", "woollen", "leather", "suede", "velvet",
             "satin", "chiffon", "georgette", "khadi", "jute", "canvas", "corduroy", "fleece",
             "polyester", "nylon", "rayon", "viscose", "lycra", "cashmere", "crepe", "lace")
GENDERS = ("Men", "Women", "Boys", "Girls", "Unisex")
# Who a shopper buys for -> the catalogue's genders.
FAMILY = {**dict.fromkeys(("son", "boy", "nephew", "grandson"), ("Boys",)),
          **dict.fromkeys(("daughter", "girl", "niece", "granddaughter"), ("Girls",)),
          **dict.fromkeys(("kid", "kids", "child", "children", "toddler"), ("Boys", "Girls")),
          **dict.fromkeys(("wife", "mother", "mom", "mum", "sister", "girlfriend", "lady", "ladies",
                           "female", "woman", "her", "daughter in law", "mother in law",
                           "sister in law", "grandma", "grandmother", "aunt"), ("Women",)),
          **dict.fromkeys(("husband", "father", "dad", "brother", "boyfriend", "gent", "gents",
                           "male", "man", "him", "son in law", "father in law", "brother in law",
                           "grandfather", "uncle"), ("Men",))}
# Shoppers' words for article types, with the types they usually mean. When enough of the
# catalogue's titles use a word, the types those titles have replace these (``SYNONYM_SUPPORT``).
SHOPPER_TYPES = {
    "sneaker": ("Casual Shoes", "Sports Shoes"), "trainer": ("Sports Shoes",),
    "running shoe": ("Sports Shoes",), "tee": ("Tshirts",), "t shirt": ("Tshirts",),
    "tshirt": ("Tshirts",), "polo": ("Tshirts",), "purse": ("Clutches", "Handbags", "Wallets"),
    "tote": ("Handbags",), "sling bag": ("Handbags",), "specs": ("Sunglasses",),
    "shades": ("Sunglasses",), "jumper": ("Sweaters",), "pullover": ("Sweaters",),
    "cardigan": ("Sweaters",), "hoodie": ("Sweatshirts",), "pant": ("Trousers", "Track Pants"),
    "chino": ("Trousers",), "jogger": ("Track Pants",), "trackie": ("Track Pants",),
    "loafer": ("Casual Shoes",), "boot": ("Casual Shoes", "Booties"), "slipper": ("Flip Flops",),
    "chappal": ("Flip Flops", "Sandals"), "slider": ("Flip Flops",), "gown": ("Dresses",),
    "frock": ("Dresses",), "tank top": ("Tops",), "blouse": ("Tops",), "kurti": ("Kurtis",),
    "bag": ("Handbags", "Backpacks"), "rucksack": ("Backpacks",), "cap": ("Caps",),
    "hat": ("Caps", "Hats"), "timepiece": ("Watches",), "scent": ("Perfume and Body Mist",),
    "perfume": ("Perfume and Body Mist",), "undies": ("Briefs",), "vest": ("Innerwear Vests",),
}
# Shoppers' colour and occasion words the catalogue spells otherwise (kept where it has them).
COLOUR_WORDS = {"gray": ("Grey",), "golden": ("Gold",), "violet": ("Purple",), "wine": ("Burgundy", "Maroon"),
                "tan": ("Tan", "Khaki"), "aqua": ("Turquoise Blue", "Teal"), "ivory": ("Off White", "Cream")}
OCCASIONS = {"office": ("Formal",), "interview": ("Formal",), "meeting": ("Formal",),
             "wedding": ("Ethnic", "Party"), "festival": ("Ethnic",), "diwali": ("Ethnic",),
             "gym": ("Sports",), "workout": ("Sports",), "running": ("Sports",), "jogging": ("Sports",),
             "yoga": ("Sports",), "training": ("Sports",), "everyday": ("Casual",), "daily": ("Casual",),
             "weekend": ("Casual",), "college": ("Casual",), "club": ("Party",), "night out": ("Party",),
             "vacation": ("Travel", "Casual"), "holiday": ("Travel", "Casual")}
SYNONYM_SUPPORT = 5             # titles needed before the catalogue's own use of a word decides
SYNONYM_SHARE = 0.25            # a type joins a word's meaning with this share of its titles
CONJUNCTIONS = {"or", "and", "either", "maybe", "perhaps", "nor"}
CHEAPER = re.compile(r"\b(cheaper|less expensive|lower price|more affordable|budget|too (?:pricey|expensive|costly))\b")
PRICIER = re.compile(r"\b(pricier|more expensive|premium|higher end)\b")
_AMOUNT = r"(?:rs\.?|inr|₹|\$)?\s*(\d[\d,]*(?:\.\d+)?)\s*(k\b)?"
BETWEEN = re.compile(r"\b(?:between|from)\s+" + _AMOUNT + r"\s*(?:and|to|-)\s*" + _AMOUNT +
                     r"|" + _AMOUNT + r"\s*(?:-|to)\s*" + _AMOUNT + r"\s*(?:rs\b|rupees|inr)")
UNDER = re.compile(r"\b(?:under|below|less than|max(?:imum)?|up ?to|within|not more than|no more than|"
                   r"(?:nothing|not|none|no) (?:above|over|more than|pricier than)|"
                   r"budget(?: of| is)?|cheaper than)\s*" + _AMOUNT)
OVER = re.compile(r"\b(?<!nothing )(?<!not )(?<!none )(?<!no )(?:over|above|more than|at least|min(?:imum)?|"
                  r"starting at)\s*" + _AMOUNT)
AROUND = re.compile(r"(?:\b(?:rs\.?|inr)|₹)\s*(\d[\d,]*(?:\.\d+)?)\s*(k\b)?|"
                    r"\b(\d[\d,]*(?:\.\d+)?)\s*(k\b)?\s*(?:rupees|rs\b|inr|bucks)")


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


def _amount(number: str, thousands: str | None) -> float:
    value = float(number.replace(",", ""))
    return value * 1000 if thousands else value


def price_range(text: str) -> tuple[float | None, float | None]:
    """The (lowest, highest) price ``text`` asks for: "under 2k" -> (None, 2000), "between 1000
    and 1500" -> (1000, 1500), "over 999" -> (999, None), "2000 rupees" -> (None, 2000)."""
    t = text.lower()
    if m := BETWEEN.search(t):
        g = m.groups()
        a = _amount(g[0], g[1]) if g[0] is not None else _amount(g[4], g[5])
        b = _amount(g[2], g[3]) if g[0] is not None else _amount(g[6], g[7])
        return (min(a, b), max(a, b))
    high = _amount(*m.groups()) if (m := UNDER.search(t)) else None
    low = _amount(*m.groups()) if (m := OVER.search(t)) else None
    if high is None and low is None and (m := AROUND.search(t)):
        g = m.groups()
        high = _amount(g[0], g[1]) if g[0] is not None else _amount(g[2], g[3])
    return low, high


Value = str | tuple[str, ...]           # one catalogue value, or several (any of them)


def in_words(value: Value) -> str:
    """A value as a shopper reads it: "Red", or "Red or Maroon" for several."""
    return value if isinstance(value, str) else " or ".join(value)


@dataclass
class Modifier:
    """What a shopper's words ask for: catalogue values by field (several values mean any of
    them), a price bound or direction, and the text."""

    text: str
    values: dict[str, Value] = field(default_factory=dict)   # field -> catalogue value(s)
    price: str | None = None          # "range" (price_min / price_max), "cheaper" or "pricier"
    price_min: float | None = None
    price_max: float | None = None

    def describe(self) -> list[str]:
        parts = [f"{f.replace('_', ' ')}: {in_words(v)}" for f, v in self.values.items()]
        if self.price == "range":
            if self.price_min is not None and self.price_max is not None:
                parts.append(f"price {self.price_min:g} to {self.price_max:g}")
            elif self.price_max is not None:
                parts.append(f"price <= {self.price_max:g}")
            else:
                parts.append(f"price >= {self.price_min:g}")
        elif self.price:
            parts.append(f"{self.price} than the reference")
        return parts


def change_text(values: dict[str, Value]) -> str:
    """A change in the catalogue's own words ("in Navy Blue Linen with Short Sleeves for Men")
    from parsed values, whatever the shopper's phrasing was; ``Vocabulary.parse`` reads it back."""
    head = " ".join(in_words(values[f]) for f in ("colour", "pattern", "fabric", "fit", "neck") if f in values)
    tail = [f"with {in_words(values['sleeve'])}"] if "sleeve" in values else []
    tail += [f"for {in_words(values[f])}" for f in ("gender", "usage") if f in values]
    return " ".join((["in " + head] if head else []) + tail)


class Vocabulary:
    """The attribute values a catalogue has, indexed by their normalised phrase, with shoppers'
    words for its article types and genders."""

    def __init__(self, index: ProductIndex):
        self.phrases: dict[str, tuple[str, str]] = {}
        for column in COLUMN_FIELDS:
            f = "category" if column == "subcategory" else column
            for value in index.distinct(column):
                self.phrases.setdefault(normalise(value), (f, value))
        names = {n: f for f, ns in ATTRIBUTE_FIELDS.items() for n in ns}
        products = index.products_where()
        for product in products:
            for name, value in (product.attributes or {}).items():
                f = names.get(name.lower())
                if f and value:
                    self.phrases.setdefault(normalise(value), (f, value))
        for word in MATERIALS:
            if normalise(word) not in self.phrases and index.has(Filters(mentions=[word])):
                self.phrases[normalise(word)] = ("fabric", word.capitalize())
        for value in GENDERS:
            self.phrases.setdefault(normalise(value), ("gender", value))
        # Shoppers' words: phrase -> (field, values); the catalogue's own values come first.
        self.synonyms: dict[str, tuple[str, tuple[str, ...]]] = {}
        for field_name, table in (("gender", FAMILY), ("colour", COLOUR_WORDS), ("usage", OCCASIONS)):
            known = set(index.distinct(field_name))
            for word, meant in table.items():
                kept = tuple(v for v in meant if v in known)
                if kept and normalise(word) not in self.phrases:
                    self.synonyms[normalise(word)] = (field_name, kept)
        for value in index.distinct("colour"):          # "navy" -> Navy Blue, "lime" -> Lime Green
            first = normalise(value).split()[0]
            if len(value.split()) > 1 and first not in self.phrases:
                self.synonyms.setdefault(first, ("colour", (value,)))
        for word, types in self.learned_types(products, set(index.distinct("article_type"))).items():
            if word not in self.phrases:
                self.synonyms[word] = ("article_type", types)
        self._longest = max((len(p.split()) for p in (*self.phrases, *self.synonyms)), default=1)

    @staticmethod
    def learned_types(products: list, types: set[str]) -> dict[str, tuple[str, ...]]:
        """For each word of ``SHOPPER_TYPES``: the article types of the catalogue's titles that use
        it (each with at least ``SYNONYM_SHARE`` of them), when at least ``SYNONYM_SUPPORT`` do;
        else the table's types that the catalogue has."""
        words = {normalise(w): w for w in SHOPPER_TYPES}
        counts: dict[str, Counter] = {w: Counter() for w in words}
        for p in products:
            title = f" {normalise(p.title or '')} "
            for w in words:
                if f" {w} " in title and p.article_type:
                    counts[w][p.article_type] += 1
        learned = {}
        for w, original in words.items():
            total = sum(counts[w].values())
            if total >= SYNONYM_SUPPORT:
                meant = tuple(t for t, n in counts[w].most_common(3) if n / total >= SYNONYM_SHARE)
            else:
                meant = tuple(t for t in SHOPPER_TYPES[original] if t in types)
            if meant:
                learned[w] = meant
        return learned

    def values(self, field_name: str) -> list[str]:
        """The catalogue's values of one field, sorted."""
        return sorted({v for f, v in self.phrases.values() if f == field_name})

    def value(self, field_name: str, text: str) -> str | None:
        """The catalogue's spelling of ``text`` as a value of ``field_name`` ("navy blue" ->
        "Navy Blue"), or None when the catalogue has no such value."""
        known = self.phrases.get(normalise(text))
        return known[1] if known is not None and known[0] == field_name else None

    def matches(self, text: str) -> list[tuple[int, int, str, tuple[str, ...]]]:
        """The values ``text`` names, left to right, longest phrase first: ``(first word, end
        word, field, values)`` over the words of ``normalise(text)``."""
        words = normalise(text).split()
        found, i = [], 0
        while i < len(words):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                phrase = " ".join(words[i:i + n])
                if phrase in self.phrases:
                    f, value = self.phrases[phrase]
                    found.append((i, i + n, f, (value,)))
                    break
                if phrase in self.synonyms:
                    found.append((i, i + n, *self.synonyms[phrase]))
                    break
            else:
                n = 1
            i += n
        return found

    def without_values(self, text: str) -> str:
        """``text`` (normalised) with the catalogue values it names taken out."""
        words = normalise(text).split()
        for start, end, _, _ in self.matches(text):
            words[start:end] = [""] * (end - start)
        return f" {' '.join(w for w in words if w)} "

    def parse(self, text: str) -> Modifier:
        """The values ``text`` names by field (a second value of a field counts when only "or",
        "and" or a comma stand between: "red or maroon"), and its price."""
        mod = Modifier(text=text)
        words = normalise(text).split()
        ends: dict[str, int] = {}
        chosen: dict[str, list[str]] = {}
        for start, end, f, values in self.matches(text):
            if f not in chosen:
                chosen[f] = list(values)
            elif set(words[ends[f]:start]) <= CONJUNCTIONS:
                chosen[f] += [v for v in values if v not in chosen[f]]
            else:
                continue
            ends[f] = end
        mod.values = {f: vs[0] if len(vs) == 1 else tuple(vs) for f, vs in chosen.items()}
        low, high = price_range(text)
        lowered = text.lower()
        if low is not None or high is not None:
            mod.price, mod.price_min, mod.price_max = "range", low, high
        elif CHEAPER.search(lowered):
            mod.price = "cheaper"
        elif PRICIER.search(lowered):
            mod.price = "pricier"
        return mod
