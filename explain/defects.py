"""An objective check of an explanation's text against its evidence, whoever wrote it: the defects
a careful reader rejects, each found by a rule that can be tested.

- ``field notation``: a field's name followed by its value ("article type Tshirts", "colour:
  Blue", "gender (Men)"), or a field name with an underscore;
- ``repeated``: the same five words twice in one text;
- ``only without a fact``: "only", "unique" or "no other" more often than the evidence has
  values that set the product apart (none when it has none);
- ``price rank without price``: "cheapest", "lowest price", "least expensive"... without price
  evidence;
- ``no reference``: "the one you viewed" without a viewed product;
- ``not asked``: a catalogue value said to be asked for that the request does not hold;
- ``hanging``: a sentence without an end, with fewer than three words, beginning with a joining
  word, or ending on one.
"""
from __future__ import annotations

import re

from retrieval import normalise

from .evidence import Evidence

FIELD_NAMES = ("article type", "article_type", "colour", "color", "gender", "usage", "season", "brand",
               "pattern", "fabric", "fit", "neck", "sleeve length", "material", "category")
NOTATION = re.compile(r"\b(?i:" + "|".join(re.escape(f) for f in FIELD_NAMES) + r")\b[ \t]*(?:[:=(][ \t]*)?(?=[A-Z0-9])"
                      r"|\b\w+_\w+\b")
ONLY = re.compile(r"\b(?:only|unique|no other|none of the others?)\b", re.IGNORECASE)
PRICE_RANK = re.compile(r"\b(?:cheapest|lowest[- ]priced?|lowest price|least expensive|costs? the least|"
                        r"most affordable|priciest|most expensive|best price|best value)\b", re.IGNORECASE)
VIEWED = re.compile(r"\b(?:you(?:'re| are| were)? (?:viewed|viewing|looking at|looked at)|the one you (?:had|have|saw)|"
                    r"(?:viewed|previous|current|original) (?:product|item|one))\b", re.IGNORECASE)
REQUEST = re.compile(r"\byou(?:'ve| have)?\s+(?:\w+\s+)?(?:asked|wanted|want|requested|searched|specified|chose|"
                     r"mentioned|needed)\b|\byour (?:request|search|choice|criteria)\b|\bas requested\b",
                     re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A full stop that ends an abbreviation in a name ("U.S. Polo Assn.", "Levi Strauss & Co.") ends no sentence.
ABBREVIATION = re.compile(r"(?:\b[A-Z]|\b(?:Assn|Co|Corp|Inc|Ltd|Bros|St|Jr|Sr|Mr|Mrs|Ms|Dr|No|Pvt))\.$")


def sentences(text: str) -> list[str]:
    out: list[str] = []
    for part in SENTENCE_END.split(text.strip()):
        if out and ABBREVIATION.search(out[-1]):
            out[-1] += " " + part
        else:
            out.append(part)
    return out
OPENING = {"and", "or", "but", "to", "which", "that", "than", "on"}       # a sentence cannot begin with
ENDING = {"and", "or", "but", "of", "with", "the", "a", "an", "which", "that", "than", "by", "from", "its"}
# Value words that prose may use without claiming a catalogue value.
COMMON = {"one", "ones", "product", "products", "it", "item", "look", "outfit", "kind", "shown"}


def five_grams(text: str) -> list[tuple[str, ...]]:
    """Every run of five words of ``text`` (lower case), in order."""
    w = re.findall(r"[\w']+", text.lower())
    return [tuple(w[i:i + 5]) for i in range(len(w) - 4)]


def repeated(text: str) -> bool:
    grams = five_grams(text)
    return len(grams) != len(set(grams))


FRAGMENT = re.compile(r"(?:^|[;,:]\s*)(?:of|among) the \w+ shown\s*[.!?]?\s*$", re.IGNORECASE)


def hanging(text: str) -> bool:
    text = text.strip()
    if not text or text[-1] not in ".!?":
        return True
    for s in sentences(text):
        if FRAGMENT.search(s.strip()):
            return True
        w = re.findall(r"[\w']+", s.lower())
        if len(w) < 3 or w[0] in OPENING or w[-1] in ENDING:
            return True
    return False


def not_asked(text: str, evidence: Evidence, terms: list[str]) -> list[str]:
    """Catalogue terms a clause says were asked for that the request (its words and values) does
    not hold."""
    said = f" {normalise(' '.join([evidence.query.text or '', *evidence.asked.values()]))} "
    out = []
    for clause in re.split(r"[,;:.!?]", text):
        if not REQUEST.search(clause):
            continue
        norm = f" {normalise(REQUEST.sub(' ', clause))} "
        for term in terms:
            if f" {term} " in norm and term not in COMMON:
                norm = norm.replace(f" {term} ", " | ")
                if f" {term} " not in said:
                    out.append(term)
    return out


def defects(text: str, evidence: Evidence, terms: list[str]) -> list[str]:
    """The defects of ``text`` as an explanation of ``evidence``; ``terms``: the catalogue's
    values, normalised, longest first (``Grounding.terms``)."""
    out = []
    if NOTATION.search(text):
        out.append("field notation")
    if repeated(text):
        out.append("repeated")
    if len(ONLY.findall(text)) > len(evidence.standout.values if evidence.standout else ()):
        out.append("only without a fact")
    if PRICE_RANK.search(text) and not (evidence.standout and evidence.standout.cheapest):
        out.append("price rank without price")
    if VIEWED.search(text) and not evidence.reference:
        out.append("no reference")
    out += [f"not asked: {t}" for t in not_asked(text, evidence, terms)]
    if hanging(text):
        out.append("hanging")
    return out
