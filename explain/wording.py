"""Plain English from claims: the realiser. Each claim has a few sentence forms; a product uses
one by a hash of its id, so a page of answers does not repeat itself. ``options`` lists every
form of a claim (the LLM chooses among them under a grammar); ``realise`` writes the text the
realiser picks, sentence by sentence with the claim each one states.
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from .claims import APART, ASKED, CHANGED, CHEAPEST, COMPLETES, KEPT, PHOTO, PLAIN, POPULAR, SHARES, Claim

# Catalogue kinds named in the plural in English (a pair of shoes, jeans, sunglasses).
PLURAL_WORDS = {"shoes", "sandals", "flops", "heels", "flats", "socks", "pants", "jeans", "trousers",
                "shorts", "capris", "leggings", "jeggings", "tights", "stockings", "briefs", "boxers",
                "trunks", "sunglasses", "pyjamas", "earrings", "gloves", "booties", "slippers",
                "sneakers", "boots", "loafers", "chinos", "joggers", "cufflinks", "suspenders",
                "salwar", "churidar", "patiala"}
KIND_WORDS = {"tshirts": "T-shirt", "t shirts": "T-shirt", "t-shirt": "T-shirt", "tshirt": "T-shirt",
              "lounge tshirts": "lounge T-shirt", "innerwear vests": "vest", "bra": "bra",
              "perfume and body mist": "perfume", "necklace and chains": "necklace",
              "night suits": "night suit", "kurta sets": "kurta set", "trunk": "trunks"}
GENDER_WORDS = {"men": "men", "women": "women", "boys": "boys", "girls": "girls", "unisex": "anyone",
                "kids": "children"}
USAGE_WORDS = {"casual": "everyday wear", "sports": "sport", "ethnic": "ethnic wear", "formal": "formal wear",
               "smart casual": "smart casual wear", "party": "parties", "travel": "travel", "home": "home"}
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
REGIONS = {"all over the product": "all over"}


@dataclass(frozen=True)
class Sentence:
    text: str
    claim: Claim


def kind_noun(kind: str | None) -> tuple[str, bool]:
    """A catalogue kind as a noun and whether it is plural: "Casual Shoes" -> ("casual shoes",
    True), "Watches" -> ("watch", False), None -> ("product", False)."""
    if not kind:
        return "product", False
    low = " ".join(kind.lower().split())
    low = KIND_WORDS.get(low, low)
    last = low.split()[-1]
    if last in PLURAL_WORDS:
        return low, True
    if low.endswith(("sses", "ches", "shes", "xes")):
        return low[:-2], False
    if low.endswith("ies") and len(last) > 4:
        return low[:-3] + "y", False
    if low.endswith("s") and not low.endswith("ss") and len(last) > 3:
        return low[:-1], False
    return low, False


def plural(kind: str | None) -> str:
    noun, many = kind_noun(kind)
    if many:
        return noun
    if noun.endswith(("s", "ch", "sh", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def number(n: float) -> str:
    """3 -> "three", 1499.0 -> "1,499", 0.0508 -> "0.0508"."""
    if float(n).is_integer():
        n = int(n)
        return NUMBERS[n] if 0 <= n < len(NUMBERS) else f"{n:,}"
    return f"{n:,.2f}" if n >= 100 else f"{n:g}"


def price(p: float) -> str:
    """1499.0 -> "₹1,499", as the shop's page writes prices."""
    return f"₹{int(p):,}" if float(p).is_integer() else f"₹{p:,.2f}"


def words(field: str, value: str) -> str:
    """A value as prose reads it: colours, materials and patterns in lower case, a brand as it is."""
    if field == "brand":
        return value
    if field == "gender":
        return GENDER_WORDS.get(value.lower(), value.lower())
    if field == "usage":
        return USAGE_WORDS.get(value.lower(), value.lower())
    return " ".join(value.split()).lower()


def noun_phrase(values: dict[str, str], kind: str | None, article: bool = True, noun: str | None = None) -> str:
    """ "a navy blue linen shirt for men", "white sports shoes by ASICS for women and for sport"
    from field values (a usage the kind's name already says is left out). ``noun`` stands in for
    the kind's name: "one" ("a red one"; left out with no adjective before it: "for women"), or ""
    for none ("red with long sleeves")."""
    noun, many = (noun, False) if noun is not None else kind_noun(kind)
    usage = words("usage", values["usage"]) if values.get("usage") else None
    if usage and set(usage.split()) & ({w.rstrip("s") for w in noun.split()} | set(noun.split())):
        usage = None
    before = [words(f, values[f]) for f in ("fit", "pattern", "colour", "fabric") if values.get(f)]
    after = []
    if values.get("sleeve"):
        after.append(f"with {words('sleeve', values['sleeve'])}")
    if values.get("neck"):
        after.append(f"with {a_or_many(words('neck', values['neck']))}")
    if values.get("brand"):
        after.append(f"by {values['brand']}")
    purposes = [words(f, values[f]) for f in ("gender", "season") if values.get(f)] + ([usage] if usage else [])
    if purposes:
        after.append("for " + " and for ".join(purposes))
    if noun == "one" and not before:
        noun = ""
    head = " ".join(w for w in [*before, noun] if w)
    if noun and article and not many:
        head = a(head)
    return " ".join(w for w in [head, *after] if w)


def predicates(field: str, value: str, kind: str | None) -> list[str]:
    """What a distinguishing value makes the product, as predicates ("is by Puma", "comes in
    red"), a few ways each."""
    noun, _ = kind_noun(kind)
    v = words(field, value)
    if field in ("fabric", "material") and v.endswith("ed"):      # "blended" is no material's name
        v += " fabric"
    return {"colour": [f"is {v}", f"comes in {v}", f"is in {v}"],
            "brand": [f"is by {value}", f"comes from {value}", f"is {a(value)} piece"],
            "article_type": [f"is {noun if kind_noun(kind)[1] else a(noun)}"] * 3,
            "usage": [f"is for {v}", f"is made for {v}", f"suits {v}"],
            "fabric": [f"is made of {v}", f"is in {v}", f"uses {v}"],
            "material": [f"is made of {v}", f"is in {v}", f"uses {v}"],
            "pattern": [f"is {v}", f"has a {v} look", f"is {v}"],
            "fit": [f"is {v}", f"has a {v} cut", f"is cut {v}"],
            "sleeve length": [f"has {v}", f"comes with {v}", f"has {v}"],
            "neck": [f"has {a_or_many(v)}", f"comes with {a_or_many(v)}", f"has {a_or_many(v)}"]}.get(field, [f"has {v}"] * 3)


def a(word: str) -> str:
    """ "a shirt", "an iPanema piece"."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def a_or_many(word: str) -> str:
    """ "a polo collar", "shoulder straps"."""
    return word if word.endswith("s") else a(word)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def agreed(forms: list[str], kind: str | None) -> list[str]:
    """Forms with ``{It}``, ``{it}`` and ``{Its}``/``{its}`` naming the product as a pair when its
    kind is plural ("this pair is the only one by Puma" for jeans), and ``{These are}`` before a
    noun phrase ("These are black casual shoes", "It is a black shirt")."""
    many = kind_noun(kind)[1]
    words = ({"It": "This pair", "it": "this pair", "These are": "These are", "these are": "these are",
              "This one": "This pair", "this one": "this pair"} if many
             else {"These are": "It is", "these are": "it is"})
    return [re.sub(r"\{([\w ]+)\}", lambda m: words.get(m.group(1), m.group(1)), f) for f in forms]


def _asked(claim: Claim, kind: str | None) -> list[str]:
    asked = dict(claim.asked)
    if claim.value("price"):
        low_high = claim.numbers[1:]
        limit = " to ".join(price(b) for b in low_high)
        bound = {"up to": f"within your budget of {limit}", "from": f"above the {limit} you set",
                 "between": f"inside your {limit} range"}[claim.detail]
        at = price(claim.numbers[0])
        return agreed([f"At {at}, {{it}} is {bound}.", f"{{It}} costs {at}, {bound}.",
                       f"The price, {at}, is {bound}."], kind)
    # the shopper's own word where the product's value holds it ("blue" for Navy Blue); the kind
    # is named only when it was asked for ("a red one", not "a red top", after "red dress")
    values = {f: (asked[f] if f in asked and f != "brand" and " or " not in asked[f] else v) for f, v in claim.values}
    kind_asked = "article_type" in values
    named = values.get("article_type") if kind_asked else None
    np_ = noun_phrase(values, named, noun=None if kind_asked else "one")     # "a red one for women", "for women"
    return agreed([f"{_cap(np_)}, as you asked.", f"{{These are}} {np_}, as requested.", f"As you asked: {np_}.",
                   f"{{These are}} {np_}, matching your request."], named)


def _changed(claim: Claim, kind: str | None) -> list[str]:
    if claim.detail in ("cheaper", "pricier"):
        now, before = price(claim.numbers[0]), price(claim.numbers[1])
        less = claim.detail == "cheaper"
        return agreed([f"At {now}, {{it}} costs {'less' if less else 'more'} than the {before} one you viewed.",
                       f"{'Cheaper' if less else 'Pricier'}, as you asked: {now} against {before}.",
                       f"{{It}} costs {now}; the one you viewed costs {before}."], kind)
    values = dict(claim.values)
    change = noun_phrase(values, None, article=False, noun="") or noun_phrase(values, kind, article=False)
    return agreed([f"Now {change}, the change you asked for.", f"The change you wanted: {change}.",
                   f"{{It}} has your change: {change}.", f"Changed as you asked, to {change}."], kind)


def _kept(claim: Claim, kind: str | None) -> list[str]:
    noun, many = kind_noun(claim.value("article_type"))
    a = "" if many else ("an " if noun[0] in "aeiou" else "a ")
    return agreed([f"{{These are}} still {a}{noun}, like the one you viewed.", f"Still {a}{noun}, as before.",
                   f"{{These are}} {a}{noun} again, the kind you were viewing."], claim.value("article_type"))


def _completes(claim: Claim, kind: str | None) -> list[str]:
    mine, anchor = plural(claim.value("article_type")), plural(claim.value("anchor"))
    if claim.detail == "bought":
        return [f"Shoppers often buy {mine} with {anchor}.", f"{_cap(mine)} are often bought with {anchor}.",
                f"People who buy {anchor} often add {mine}."]
    return [f"{_cap(mine)} go well with {anchor}.", f"{_cap(mine)} round off a look built on {anchor}.",
            f"With {anchor}, {mine} complete the outfit."]


def _apart(claim: Claim, kind: str | None) -> list[str]:
    n = number(claim.numbers[0])
    shapes = [f"Of the {n} shown, only {{this one}} P.", f"Only {{this one}}, of these {n}, P.",
              f"Among these {n}, just {{this one}} P.", f"{{This one}} alone of the {n} P.",
              f"Here, out of {n}, only {{this one}} P.", f"In this set of {n}, {{this one}} alone P.",
              f"Just one of the {n} shown P: {{this one}}."]
    return agreed([shape.replace("P", " and ".join(predicates(f, v, kind)[(i + j) % 3]
                                                   for j, (f, v) in enumerate(claim.values[:2])))
                   for i, shape in enumerate(shapes)], kind)


def _cheapest(claim: Claim, kind: str | None) -> list[str]:
    at, nxt, n = price(claim.numbers[0]), price(claim.numbers[1]), number(claim.numbers[2])
    if claim.detail == "price said":
        return agreed([f"Of the {n}, none costs less; the next is {nxt}.",
                       f"Nothing else of the {n} costs as little (the next is {nxt}).",
                       f"{{It}} is also the cheapest of the {n}, with the next at {nxt}."], kind)
    return agreed([f"At {at}, {{it}} is the cheapest of the {n} (the next is {nxt}).",
                   f"{{It}} costs the least of the {n}: {at}, against {nxt} for the next.",
                   f"The lowest price here is {at}; the next is {nxt}."], kind)


def _shares(claim: Claim, kind: str | None) -> list[str]:
    values = dict(claim.values)
    np_ = noun_phrase(values, values.get("article_type"),           # its kind may be said elsewhere:
                      noun=None if "article_type" in values else "one")  # "a grey one by Nike"
    return agreed([f"Like the product you viewed, {{these are}} {np_}.", f"{{These are}} {np_}, as is the one you viewed.",
                   f"{_cap(np_)}, like the one you were viewing."], kind)


def _photo(claim: Claim, kind: str | None) -> list[str]:
    if claim.detail in REGIONS:
        return agreed(["Its photo matched yours as a whole, not in one spot.", "The whole of its photo matched yours.",
                       "Compared with your photo, {it} matched all over."], kind)
    where = f"at {claim.detail}"
    return agreed([f"Its photo matched yours most {where}.", f"Your photo and its photo agree most {where}.",
                   f"Compared with your photo, {{it}} matched most {where}."], kind)


def _popular(claim: Claim, kind: str | None) -> list[str]:
    return agreed(["{It} is among the most bought products.", "Shoppers buy {it} more than most.",
                   "{It} is among the best sellers."], kind)


def _plain(claim: Claim, kind: str | None) -> list[str]:
    values = dict(claim.values)
    alone = claim.detail == "none apart"
    if "article_type" not in values and alone:     # what it is was said before: no noun again
        n, shown = number(claim.numbers[0] - 1), number(claim.numbers[0])
        return agreed([f"Nothing else sets {{it}} apart from the other {n}.",
                       f"Beyond that, nothing about {{it}} stands out among these {shown}.",
                       f"Otherwise {{it}} has no feature of its own among the {shown} shown."], kind)
    np_ = noun_phrase(values, values.get("article_type") or kind)
    if alone:
        n, shown = number(claim.numbers[0] - 1), number(claim.numbers[0])
        return agreed([f"{_cap(np_)}; nothing sets {{it}} apart from the other {n}.",
                       f"{_cap(np_)}, a close match, though not a standout among these {shown}.",
                       f"Nothing about {{it}} stands out from the other {n}, but {{these are}} {np_} and a close match.",
                       f"{_cap(np_)}, one of several close matches here."], kind)
    return agreed([f"{_cap(np_)}, among the closest matches.", f"{{These are}} {np_}, a close match.",
                   f"A close match: {np_}."], kind)


FORMS: dict[str, Callable[[Claim, str | None], list[str]]] = {
    ASKED: _asked, CHANGED: _changed, KEPT: _kept, COMPLETES: _completes, APART: _apart,
    CHEAPEST: _cheapest, SHARES: _shares, PHOTO: _photo, POPULAR: _popular, PLAIN: _plain}


def options(claim: Claim, kind: str | None) -> list[str]:
    """Every sentence form of ``claim`` for a product of ``kind`` (a value ending in a full stop,
    "U.S. Polo Assn.", ends the sentence with it)."""
    return [re.sub(r"([.!?])\.$", r"\1", re.sub(r"\s+", " ", s)) for s in FORMS[claim.kind](claim, kind)]


def offered(claim: Claim, kind: str | None, key: str, n: int = 3) -> list[str]:
    """The ``n`` forms of ``claim`` offered for product ``key``: a different run of its forms for
    each product, so that no one form, however much a model likes it, is on every page."""
    forms = options(claim, kind)
    start = pick(key, claim, len(forms))
    return [forms[(start + i) % len(forms)] for i in range(min(n, len(forms)))]


def pick(key: str, claim: Claim, n: int) -> int:
    return zlib.crc32(f"{key}|{claim.kind}".encode()) % n


def realise(claims: list[Claim], kind: str | None, key: str) -> list[Sentence]:
    """The realiser's text: one sentence per claim, each in the form ``key`` (the product's id)
    picks, so that neighbouring products read differently."""
    out = []
    for claim in claims:
        forms = options(claim, kind)
        out.append(Sentence(forms[pick(key, claim, len(forms))], claim))
    return out
