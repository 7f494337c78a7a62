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
    if low.endswith("s") and not low.endswith("ss") and len(last) > 3:
        return low[:-1], False
    return low, False


def plural(kind: str | None) -> str:
    noun, many = kind_noun(kind)
    if many:
        return noun
    if noun.endswith(("s", "ch", "sh", "x")):
        return noun + "es"
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


def noun_phrase(values: dict[str, str], kind: str | None, article: bool = True) -> str:
    """ "a navy blue linen shirt for men", "black casual shoes with ..." from field values."""
    noun, many = kind_noun(kind)
    before = [words(f, values[f]) for f in ("fit", "pattern", "colour", "fabric") if values.get(f)]
    after = []
    if values.get("sleeve"):
        after.append(f"with {words('sleeve', values['sleeve'])}")
    if values.get("neck"):
        after.append(f"with a {words('neck', values['neck'])}")
    if values.get("brand"):
        after.append(f"by {values['brand']}")
    if values.get("gender"):
        after.append(f"for {words('gender', values['gender'])}")
    if values.get("usage"):
        after.append(f"for {words('usage', values['usage'])}")
    if values.get("season"):
        after.append(f"for {values['season'].lower()}")
    head = " ".join([*before, noun])
    if article and not many:
        head = ("an " if head[0] in "aeiou" else "a ") + head
    return " ".join([head, *after])


def subject(kind: str | None) -> tuple[str, str, str]:
    """("This shirt", "is", "it") or ("These jeans", "are", "they")."""
    noun, many = kind_noun(kind)
    return (f"These {noun}", "are", "they") if many else (f"This {noun}", "is", "it")


def standout_phrase(field: str, value: str, kind: str | None) -> str:
    """What a distinguishing value makes it: "the only one by Puma", "the only striped one"."""
    noun, _ = kind_noun(kind)
    v = words(field, value)
    return {"colour": f"the only {v} one", "brand": f"the only one by {value}",
            "article_type": f"the only {noun}", "usage": f"the only one for {v}",
            "fabric": f"the only one in {v}", "material": f"the only one in {v}",
            "pattern": f"the only {v} one", "fit": f"the only {v} one",
            "sleeve length": f"the only one with {v}", "sleeve": f"the only one with {v}",
            "neck": f"the only one with a {v}"}.get(field, f"the only one with {v}")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _asked(claim: Claim, kind: str | None) -> list[str]:
    asked = dict(claim.asked)
    if claim.value("price"):
        low_high = claim.numbers[1:]
        limit = " to ".join(price(b) for b in low_high)
        bound = {"up to": f"within your budget of {limit}", "from": f"above the {limit} you set",
                 "between": f"inside your {limit} range"}[claim.detail]
        at = price(claim.numbers[0])
        return [f"At {at}, it is {bound}.", f"It costs {at}, {bound}.", f"{_cap(bound)}: it costs {at}."]
    # the shopper's own word where the product's value holds it ("blue" for Navy Blue)
    values = {f: (asked[f] if f in asked and f != "brand" and " or " not in asked[f] else v) for f, v in claim.values}
    np_ = noun_phrase(values, values.get("article_type") or kind)
    said = " and ".join(words(f, values[f]) for f, _ in claim.values if f not in ("article_type", "gender"))
    return [f"{_cap(np_)}, as you asked.", f"It is {np_}, just what you asked for.",
            *([f"You asked for {said}, and it is {np_}."] if said else [])]


def _changed(claim: Claim, kind: str | None) -> list[str]:
    values = dict(claim.values)
    np_ = noun_phrase(values, kind, article=False)
    return [f"Now {np_}, the change you asked for.", f"The change you wanted: {np_}.",
            f"As you asked, it comes as {noun_phrase(values, kind)}."]


def _kept(claim: Claim, kind: str | None) -> list[str]:
    noun, many = kind_noun(claim.value("article_type"))
    a = "" if many else ("an " if noun[0] in "aeiou" else "a ")
    return [f"It is still {a}{noun}, like the one you viewed.", f"Still {a}{noun}, as before.",
            f"It keeps the kind you were viewing: {a}{noun}."]


def _completes(claim: Claim, kind: str | None) -> list[str]:
    mine, anchor = plural(claim.value("article_type")), plural(claim.value("anchor"))
    if claim.detail == "bought":
        return [f"Shoppers often buy {mine} with {anchor}.", f"{_cap(mine)} are often bought with {anchor}.",
                f"People who buy {anchor} often add {mine}."]
    return [f"{_cap(mine)} go well with {anchor}.", f"{_cap(mine)} round off a look built on {anchor}.",
            f"It completes an outfit with {anchor}."]


def _apart(claim: Claim, kind: str | None) -> list[str]:
    n = number(claim.numbers[0])
    phrases = [standout_phrase(f, v, kind) for f, v in claim.values[:2]]
    only = " and ".join(phrases)
    return [f"Of the {n} shown, it is {only}.", f"It is {only} among the {n} shown.",
            f"Among these {n}, it is {only}."]


def _cheapest(claim: Claim, kind: str | None) -> list[str]:
    at, nxt, n = price(claim.numbers[0]), price(claim.numbers[1]), claim.numbers[2]
    if claim.detail == "price said":
        return [f"It is the lowest price of the {number(n)} shown; the next costs {nxt}.",
                f"Nothing else of the {number(n)} costs as little (the next is {nxt}).",
                f"It is the cheapest here, with the next at {nxt}."]
    return [f"At {at}, it is the cheapest of the {number(n)} (next: {nxt}).",
            f"It costs the least of the {number(n)}: {at}, against {nxt} for the next.",
            f"The lowest price here: {at}, the next is {nxt}."]


def _shares(claim: Claim, kind: str | None) -> list[str]:
    values = dict(claim.values)
    np_ = noun_phrase(values, values.get("article_type") or kind)
    return [f"Like the product you viewed, it is {np_}.", f"It matches the one you viewed: {np_}.",
            f"{_cap(np_)}, like the one you were viewing."]


def _photo(claim: Claim, kind: str | None) -> list[str]:
    where = REGIONS.get(claim.detail, f"at {claim.detail}")
    return [f"Its photo matched yours most {where}.", f"Your photo and its photo agree most {where}.",
            f"Compared with your photo, it matched most {where}."]


def _popular(claim: Claim, kind: str | None) -> list[str]:
    return ["It is one of the most bought products.", "Shoppers buy it more than most.",
            "It is among the best sellers."]


def _plain(claim: Claim, kind: str | None) -> list[str]:
    values = dict(claim.values)
    np_ = noun_phrase(values, values.get("article_type") or kind)
    if claim.detail == "none apart":
        others = number(claim.numbers[0] - 1)
        tail = [f"nothing sets it apart from the other {others} shown",
                f"it has no value the other {others} shown lack"]
        return [f"{_cap(np_)}; {tail[0]}.", f"It is {np_}, but {tail[1]}.",
                f"{_cap(tail[0])}: it is {np_} and a close match."]
    return [f"{_cap(np_)}, among the closest matches.", f"It is {np_} and a close match.",
            f"A close match: {np_}."]


FORMS: dict[str, Callable[[Claim, str | None], list[str]]] = {
    ASKED: _asked, CHANGED: _changed, KEPT: _kept, COMPLETES: _completes, APART: _apart,
    CHEAPEST: _cheapest, SHARES: _shares, PHOTO: _photo, POPULAR: _popular, PLAIN: _plain}


def options(claim: Claim, kind: str | None) -> list[str]:
    """Every sentence form of ``claim`` for a product of ``kind``."""
    return [re.sub(r"\s+", " ", s) for s in FORMS[claim.kind](claim, kind)]


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
