"""What an explanation may say, chosen by code: typed claims, each true by construction and
carrying the evidence it comes from.

``claims(evidence)`` lists every claim the evidence supports; ``chosen(evidence)`` picks at most
three, what the shopper asked about first, then what sets the product apart, never two claims
stating the same value. A product that nothing distinguishes gets an honest "none stands out".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval import normalise

from .evidence import Evidence

# Kinds of claim, in the order an explanation says them.
ASKED = "asked"            # the product has values the shopper asked for
CHANGED = "changed"        # a refinement: the change asked for is satisfied
KEPT = "kept"              # a refinement: the kind of the viewed product is kept
COMPLETES = "completes"    # complete-the-look: why it goes with the anchor
APART = "apart"            # values none of the other products shown has
CHEAPEST = "cheapest"      # the lowest price of those shown
SHARES = "shares"          # "more like this": what it has in common with the viewed product
PHOTO = "photo"            # a photo search: where the product's photo matched most
POPULAR = "popular"        # among the most bought
PLAIN = "plain"            # what it is, and that nothing sets it apart
ORDER = (ASKED, CHANGED, KEPT, COMPLETES, APART, CHEAPEST, SHARES, PHOTO, POPULAR, PLAIN)
MAX_CLAIMS = 3
# Fields a claim may state, and the attribute names a catalogue stores them under.
ATTRIBUTE_NAMES = {"fabric": ("fabric", "material"), "pattern": ("pattern", "print or pattern type"),
                   "sleeve": ("sleeve length",), "fit": ("fit",), "neck": ("neck", "collar")}
DESCRIBING = ("colour", "article_type", "gender")


@dataclass(frozen=True)
class Claim:
    """One thing an explanation says. ``values``: (field, value) pairs as the catalogue has them;
    ``asked``: the shopper's own words for an asked value, by field; ``numbers``: prices it
    states; ``detail``: a kind-specific word (the photo region, the look's source); ``evidence``:
    the evidence line it rests on, shown to analysts."""

    kind: str
    values: tuple[tuple[str, str], ...] = ()
    asked: tuple[tuple[str, str], ...] = ()
    numbers: tuple[float, ...] = ()
    detail: str = ""
    evidence: str = ""

    def value(self, name: str) -> str | None:
        return dict(self.values).get(name)


def _same(a: str, b: str) -> bool:
    return normalise(a) == normalise(b)


def _alternatives(asked: str) -> list[str]:
    """ "Red or Maroon" -> ["red", "maroon"]."""
    return [normalise(a) for a in re.split(r"\s+or\s+|,\s*", asked) if a.strip()]


def product_value(evidence: Evidence, name: str) -> str | None:
    """The product's value of a field or a free attribute (fabric, pattern, sleeve, fit, neck)."""
    p = evidence.product
    if p.get(name):
        return str(p[name])
    attrs = {k.lower(): str(v) for k, v in (p.get("attributes") or {}).items()}
    return next((attrs[n] for n in ATTRIBUTE_NAMES.get(name, (name,)) if attrs.get(n)), None)


def has_asked(evidence: Evidence, name: str, asked: str) -> str | None:
    """The product's value that satisfies what was asked of field ``name``, or None: an equal
    value, one holding an asked word ("Navy Blue" for blue), or for a material, its title
    naming it."""
    value = product_value(evidence, name)
    wanted = _alternatives(asked)
    if value is not None:
        words = set(normalise(value).split())
        if any(normalise(value) == w or set(w.split()) <= words for w in wanted):
            return value
    if name == "fabric":
        title = f" {normalise(evidence.product.get('title') or '')} "
        return next((w.title() for w in wanted if f" {w} " in title), None)
    return None


def _budget(evidence: Evidence) -> Claim | None:
    """The product's price within the budget asked for."""
    price = evidence.product.get("price")
    if price is None or evidence.budget is None:
        return None
    low, high = evidence.budget
    if (low is not None and price < low) or (high is not None and price > high):
        return None
    bounds = tuple(float(b) for b in (low, high) if b is not None)
    return Claim(ASKED, (("price", f"{price:g}"),), (("price", evidence.asked.get("price", "")),),
                 (float(price), *bounds), "from" if high is None else "up to" if low is None else "between",
                 f"price {price:g}, asked {evidence.asked.get('price', '')}")


def asked_claims(evidence: Evidence) -> list[Claim]:
    """What the shopper asked for that the product has: one claim of fields, one of the price."""
    pairs, words = [], []
    for name, asked in evidence.asked.items():
        if name in ("price", "category"):
            continue
        value = has_asked(evidence, name, asked)
        if value:
            pairs.append((name, value))
            words.append((name, asked))
    out = []
    if pairs:
        kind = CHANGED if evidence.query.kind == "composed" else ASKED
        out.append(Claim(kind, tuple(pairs), tuple(words),
                         evidence="asked for and has: " + ", ".join(f"{k} {v}" for k, v in pairs)))
    budget = _budget(evidence)
    if budget:
        out.append(budget)
    relative = _relative_price(evidence)
    if relative:
        out.append(relative)
    return out


def _relative_price(evidence: Evidence) -> Claim | None:
    """A refinement asked to be cheaper (or pricier) than the viewed product, and is."""
    way = evidence.asked.get("price")
    price, before = evidence.product.get("price"), (evidence.reference or {}).get("price")
    if way not in ("cheaper", "pricier") or price is None or before is None:
        return None
    if (price < before) != (way == "cheaper") or price == before:
        return None
    return Claim(CHANGED, (("price", f"{price:g}"),), (("price", way),), (float(price), float(before)), way,
                 f"price {price:g}, the viewed product's {before:g}, asked {way}")


def kept_claim(evidence: Evidence) -> Claim | None:
    """A refinement keeps the viewed product's kind."""
    ref = evidence.reference or {}
    kind = evidence.product.get("article_type")
    if evidence.query.kind == "composed" and kind and ref.get("article_type") and _same(kind, ref["article_type"]):
        return Claim(KEPT, (("article_type", kind),), evidence=f"same article type as the viewed product: {kind}")
    return None


def completes_claim(evidence: Evidence) -> Claim | None:
    c = evidence.complement
    if not c or not c.get("kind") or not c.get("anchor_kind"):
        return None
    detail = "bought" if c.get("source") == "learned" or c.get("copurchase", 0) > 0 else "rules"
    return Claim(COMPLETES, (("article_type", c["kind"]), ("anchor", c["anchor_kind"])),
                 detail=detail, evidence=f"goes with it: {c.get('reason', '')}")


def standout_claims(evidence: Evidence) -> list[Claim]:
    s = evidence.standout
    if s is None:
        return []
    out = []
    if s.values:
        out.append(Claim(APART, tuple(s.values.items()), numbers=(float(s.shown),),
                         evidence=s.lines()[0]))
    if s.cheapest:
        out.append(Claim(CHEAPEST, (("price", f"{s.cheapest[0]:g}"),), numbers=(*s.cheapest, float(s.shown)),
                         evidence=s.lines()[-1]))
    return out


def shares_claim(evidence: Evidence) -> Claim | None:
    """What a "more like this" match shares with the viewed product."""
    ref = evidence.reference
    if not ref or evidence.query.kind != "item":
        return None
    pairs = tuple((f, str(evidence.product[f])) for f in ("article_type", "colour", "usage", "brand", "gender")
                  if evidence.product.get(f) and ref.get(f) and _same(str(evidence.product[f]), str(ref[f])))
    return Claim(SHARES, pairs, evidence="same as the viewed product: " + ", ".join(
        f"{k} {v}" for k, v in pairs)) if pairs else None


def photo_claim(evidence: Evidence) -> Claim | None:
    """Where a photo search's match showed most, when the heat-map found a region."""
    photo_query = evidence.query.kind == "image" or (evidence.query.kind == "composed" and evidence.query.image_path)
    if not photo_query or not evidence.region or (evidence.heatmap is not None and evidence.heatmap.empty):
        return None
    return Claim(PHOTO, detail=evidence.region, evidence=f"photo matched most: {evidence.region}")


def plain_claim(evidence: Evidence) -> Claim:
    """What the product is, from its own fields: always true."""
    pairs = tuple((f, str(evidence.product[f])) for f in DESCRIBING if evidence.product.get(f))
    alone = evidence.standout is not None and not evidence.standout.values and not evidence.standout.cheapest
    return Claim(PLAIN, pairs, numbers=(float(evidence.standout.shown),) if alone else (),
                 detail="none apart" if alone else "", evidence="the product's own fields")


def claims(evidence: Evidence) -> list[Claim]:
    """Every claim the evidence supports, in ``ORDER``."""
    out = asked_claims(evidence)
    out += [c for c in (kept_claim(evidence), completes_claim(evidence)) if c]
    out += standout_claims(evidence)
    out += [c for c in (shares_claim(evidence), photo_claim(evidence)) if c]
    if evidence.popularity is not None:
        out.append(Claim(POPULAR, numbers=(float(evidence.popularity),),
                         evidence=f"popularity {evidence.popularity:.2f} of 1"))
    out.append(plain_claim(evidence))
    return sorted(out, key=lambda c: ORDER.index(c.kind))


def chosen(evidence: Evidence, limit: int = MAX_CLAIMS) -> list[Claim]:
    """At most ``limit`` claims: the request first, then what sets the product apart; a value
    already stated is not stated again (a claim left with nothing new is dropped), and the plain
    claim only when nothing else is said or nothing sets the product apart."""
    out, said = [], set()
    for claim in claims(evidence):
        if claim.kind == PLAIN and out and claim.detail != "none apart":
            continue
        fresh = tuple((k, v) for k, v in claim.values if (k, normalise(v)) not in said)
        if claim.values and not fresh and claim.kind not in (CHEAPEST, COMPLETES):
            continue
        if claim.kind in (SHARES, PLAIN, APART):
            claim = Claim(claim.kind, fresh, claim.asked, claim.numbers, claim.detail, claim.evidence)
        elif claim.kind == CHEAPEST and not fresh:        # the price is said: the rank alone
            claim = Claim(CHEAPEST, claim.values, numbers=claim.numbers, detail="price said", evidence=claim.evidence)
        out.append(claim)
        said |= {(k, normalise(v)) for k, v in claim.values}
        if len(out) == limit:
            break
    return out
