"""Short explanations written by the local LLM from the evidence only, and checked.

The prompt (``prompts/explain_*.txt``) gives the query, the product's title and the evidence's
facts; product and shopper text is quoted inside ``<data>`` tags with the tag characters removed,
so it cannot close the quote. The grounding check then finds every catalogue term the text uses
(colours, materials, patterns, article types, genders, occasions, seasons, ...) and every number,
and rejects the text if one of them is not in what the model was given. A rejected explanation is
regenerated once; if that fails too, a template-built explanation replaces it, and the reason is
recorded.

What the text says the shopper asked for is checked against the turn's parsed request the same
way (``untruthful``: "the colour you asked for" when no colour was asked is rejected), and so is
a part of the photo it names against the heat-map's region.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from prompts import load
from retrieval import MATERIALS, Vocabulary, normalise
from runtime import LocalLLM

from .evidence import CONTRAST_ATTRIBUTES, CONTRAST_FIELDS, SHARED_SAID, Evidence
from .instructions import without_instructions

# Colour and material words a model may use even when the catalogue has no such value.
COLOUR_WORDS = ("black", "white", "red", "blue", "navy", "green", "yellow", "pink", "purple",
                "orange", "brown", "grey", "gray", "beige", "maroon", "olive", "cream", "gold",
                "silver", "teal", "khaki", "tan", "peach", "magenta", "turquoise", "lavender")
PLACEHOLDERS = {"", "other", "others", "na", "n a", "none", "misc"}
NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
# An explanation never sends the shopper anywhere: links, addresses and domains are rejected.
LINK = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+|\b[\w-]+\.(?:com|net|org|shop|store|in|io|co)\b",
                  re.IGNORECASE)


def folded(text: str) -> str:
    """``normalise`` plus the -es plurals it leaves ("dresses" -> "dress", "watches" -> "watch")."""
    words = normalise(text).split()
    return " ".join(w[:-1] if len(w) > 4 and w.endswith(("sse", "che", "she", "xe", "zze")) else w
                    for w in words)


def quoted(text: str | None) -> str:
    """Text placed inside <data> tags: angle brackets dropped so it cannot close the quote."""
    return " ".join(str(text or "").replace("<", " ").replace(">", " ").split())


class Grounding:
    """Finds the catalogue terms and numbers a text asserts, and which the evidence lacks.
    Placeholder values ("Other", "NA") are not terms: in prose they are plain words."""

    def __init__(self, terms: Iterable[str]):
        self.terms = sorted({folded(t) for t in terms if folded(t) not in PLACEHOLDERS},
                            key=lambda t: (-len(t.split()), -len(t)))

    @classmethod
    def of(cls, vocabulary: Vocabulary) -> Grounding:
        return cls([*vocabulary.phrases, *MATERIALS, *COLOUR_WORDS])

    def claims(self, text: str) -> list[str]:
        norm = f" {folded(text)} "
        found = []
        for term in self.terms:
            if f" {term} " in norm:
                found.append(term)
                norm = norm.replace(f" {term} ", " | ")
        return found + NUMBER.findall(text)

    def unsupported(self, text: str, support: str) -> list[str]:
        """Claims of ``text`` that ``support`` lacks, and any link (never supported)."""
        norm = f" {folded(support)} "
        numbers = {_number(n) for n in NUMBER.findall(LINK.sub(" ", support))}
        links = LINK.findall(text)
        claims = self.claims(LINK.sub(" ", text))
        return links + [c for c in claims
                        if (_number(c) not in numbers if NUMBER.fullmatch(c) else f" {c} " not in norm)]


# A clause that says what the shopper asked for ("the colour you asked for", "as requested").
REQUEST_CUE = re.compile(
    r"\byou(?:'ve| have)?\s+(?:\w+\s+)?(?:asked|wanted|want|requested|searched|were looking|are looking|"
    r"specified|chose|picked|mentioned|needed|need|prefer(?:red)?)\b|\byour (?:request|search|query|"
    r"choice|criteria|wish|preference)|\b(?:as|was|were|been) (?:requested|asked)\b", re.IGNORECASE)
# Words that name a kind of request, and the fields of the parsed request each one stands for.
REQUEST_FIELDS = {"colour": ("colour",), "color": ("colour",), "shade": ("colour",),
                  "kind": ("article_type", "category"), "type": ("article_type", "category"),
                  "category": ("article_type", "category"), "material": ("fabric",),
                  "fabric": ("fabric",), "brand": ("brand",), "price": ("price",),
                  "budget": ("price",), "pattern": ("pattern",), "print": ("pattern",),
                  "fit": ("fit",), "sleeve": ("sleeve",), "sleeves": ("sleeve",), "neck": ("neck",),
                  "neckline": ("neck",), "collar": ("neck",), "occasion": ("usage",),
                  "usage": ("usage",), "season": ("season",), "gender": ("gender",)}
FIELD_WORD = re.compile(r"\b(" + "|".join(REQUEST_FIELDS) + r")\b", re.IGNORECASE)
CLAUSE = re.compile(r"[^,;:.!?()]+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
PART_END = re.compile(r"(?<=[.!?;])\s+")    # sentences, and the parts a template joins with ";"
# Where on a photo: position words, and what the heat-map's region phrase must hold for each.
PHOTO = re.compile(r"\b(?:photo|picture|image|pictured)s?\b", re.IGNORECASE)
POSITIONS = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom", "left": "left",
             "right": "right", "centre": "centre", "center": "centre", "middle": "centre"}
POSITION = re.compile(r"\b(" + "|".join(POSITIONS) + r")\b", re.IGNORECASE)
# A comparison with the other products on screen (only the evidence's contrasts support one).
OTHERS = re.compile(r"\b(?:the )?others? (?:\w+ )?(?:shown|listed|products?|ones?)\b|\bof the (?:\w+ )?shown\b",
                    re.IGNORECASE)
# What a comparison says sets the product apart: "the only white one", "the only one ... with brand Nike".
ONLY = re.compile(r"\bonly\b[^,;:.!?()]*", re.IGNORECASE)
CONTRAST_WORDS = set(folded(" ".join(["the only one of the shown with and lowest price next",
                                       *CONTRAST_FIELDS, *CONTRAST_ATTRIBUTES])).split())


def untruthful(text: str, evidence: Evidence, grounding: Grounding) -> list[str]:
    """What ``text`` says the shopper asked for that the turn's parsed request does not hold
    (a field it did not ask about, a value it did not name), photo positions the heat-map's
    region does not support, and a comparison with the other products shown when the evidence
    has none, or that names what sets the product apart as a value the evidence's contrasts do
    not hold ("the only white one"), e.g. ``["asked for: colour", "photo: left"]``."""
    asked = evidence.asked
    said = f" {folded(' '.join([evidence.query.text or '', *asked.values()]))} "
    out = []
    for clause in CLAUSE.findall(text):
        if not REQUEST_CUE.search(clause):
            continue
        for word in FIELD_WORD.findall(clause):
            if not any(f in asked for f in REQUEST_FIELDS[word.lower()]):
                out.append(f"asked for: {word.lower()}")
        out += [f"asked for: {c}" for c in grounding.claims(REQUEST_CUE.sub(" ", clause))
                if not NUMBER.fullmatch(c) and f" {c} " not in said]
    if OTHERS.search(text) and not evidence.contrasts:
        out.append("others shown: the evidence holds no difference")
    apart = set(folded(" ".join(evidence.contrasts)).split()) - CONTRAST_WORDS
    region = evidence.region or ""
    for part in PART_END.split(text):      # "...words were navy, Top; its photo matched at the left"
        if evidence.contrasts and OTHERS.search(part):   # "the only Lee top" is true when Lee sets it apart
            for phrase in ONLY.findall(part):
                named = [c for c in grounding.claims(phrase) if not NUMBER.fullmatch(c)]
                if named and not apart & set(folded(phrase).split()):
                    out += [f"others shown: not the only {c}" for c in named]
        if PHOTO.search(part):
            out += [f"photo: {w.lower()}" for w in POSITION.findall(part)
                    if POSITIONS[w.lower()] not in region]
    return list(dict.fromkeys(out))


@lru_cache(maxsize=4)
def rule_runs(n: int) -> frozenset[tuple[str, ...]]:
    """Every run of ``n`` words of the system prompt (normalised), read once."""
    rules = normalise(load("explain_system").template).split()
    return frozenset(tuple(rules[i:i + n]) for i in range(len(rules) - n + 1))


def recited(text: str, n: int = 6) -> list[str]:
    """``["recites its instructions"]`` when ``text`` repeats ``n`` words in a row of the system
    prompt (a model told by planted text to ignore its rules may list them instead)."""
    grams, words = rule_runs(n), normalise(text).split()
    return ["recites its instructions"] if any(
        tuple(words[i:i + n]) in grams for i in range(len(words) - n + 1)) else []


def _number(text: str) -> float:
    """"1,299" -> 1299.0, "0.60" -> 0.6 (a comma before exactly three digits groups thousands)."""
    text = re.sub(r",(?=\d{3}\b)", "", text).replace(",", ".")
    return round(float(text), 6)


EXAMPLES = ("explain_example1", "explain_example2", "explain_example3")


def lead(evidence: Evidence) -> str:
    """What the explanation begins with: the evidence that sets this match apart most (what only
    it has among the products shown, the change asked for, why it goes with the anchor, the photo
    when the photo matched more than the words, else the words)."""
    if evidence.contrasts:
        return "what sets it apart"
    if evidence.constraints:
        return "the change asked for"
    if evidence.complement:
        return "why it goes with the product viewed"
    if evidence.popularity is not None:
        return "how often it is bought"
    sims = evidence.similarity
    if evidence.region and sims.get("image", 0) >= sims.get("text", 0):
        return "what the photo showed"
    if evidence.matched_product_words():
        return "the words that matched"
    return "what it shares with the request"


def prompt_parts(evidence: Evidence) -> dict[str, str]:
    """The query, product title, evidence lines and lead as the prompt quotes them:
    instruction-like sentences and pasted code are left out of the shopper's and the catalogue's
    text."""
    query = without_instructions(evidence.query.text or "") or (
        "the most bought products" if evidence.query.kind == "popular" else
        f"products like {evidence.query.product_id}" if evidence.query.product_id else "a photo")
    return {"query": quoted(query), "product": quoted(product_name(evidence)),
            "evidence": "\n".join(f"- {quoted(line)}" for line in map(without_instructions,
                                                                            evidence.facts()) if line),
            "lead": lead(evidence)}


def messages(evidence: Evidence) -> list[dict]:
    """System rules, worked examples of several shapes, then this match. Everything before the
    match is the same for every call, so llama.cpp reuses its evaluated prefix."""
    examples = [{"role": role, "content": load(f"{name}_{role}").substitute()}
                for name in EXAMPLES for role in ("user", "assistant")]
    return [{"role": "system", "content": load("explain_system").substitute()}, *examples,
            {"role": "user", "content": load("explain_user").substitute(prompt_parts(evidence))}]


def product_name(evidence: Evidence) -> str:
    """What explanations call the product (``Evidence.product["name"]``: its title when that is
    name-shaped, else brand, colour and type)."""
    p = evidence.product
    return p.get("name") or without_instructions(p.get("title") or "") or "This product"


# Words a repeated clause may add without saying anything new.
FILLER = frozenset("a an and also but five four is it its of one or six that the this three to "
                   "two which with".split())


def unrepeated(sentence: str) -> str:
    """``sentence`` without the clauses that add no word the clauses before them lack ("it is the
    only one shown in Solid, and it is the only one shown in Solid, ..." said once)."""
    kept, seen = [], set()
    for clause in re.split(r"(?<=[,;])\s+", sentence):
        words = {w for w in re.findall(r"\w+", clause.lower()) if w not in FILLER and not w.isdigit()}
        if not kept or not words <= seen:
            kept.append(clause)
            seen |= words
    out = " ".join(kept)
    end = sentence[-1:] if sentence[-1:] in ".!?" else ""
    return out.rstrip(",; ") + end if end and not out.endswith(end) else out


def tidy(text: str, max_sentences: int = 2, repeat: float = 0.7) -> str:
    """Model output as plain prose: quoting tags, list markers and line breaks removed, repeated
    clauses said once, a sentence that mostly repeats the ones before it (``repeat``: the share of
    its words they hold) dropped, at most ``max_sentences`` sentences, and an unfinished last
    sentence (the model stopped at its token limit) cut back to the last full sentence, or to its
    last full clause when it is the only one."""
    text = re.sub(r"</?\s*(data|evidence)\s*>", "", text)
    text = re.sub(r"(?m)^\s*(?:[-*•]|\d+[.)])\s+", "", text)
    kept, seen = [], set()
    for sentence in SENTENCE_END.split(" ".join(text.split())):
        sentence = unrepeated(sentence)
        words = set(re.findall(r"\w+", sentence.lower()))
        if words and len(words & seen) < repeat * len(words):
            kept.append(sentence)
            seen |= words
    kept = kept[:max_sentences]
    if kept and kept[-1][-1] not in ".!?":
        if len(kept) > 1:
            kept.pop()
        elif re.search(r"[,;]\s", kept[0]) or kept[0][-1] in ",;":
            kept[0] = re.sub(r"[,;]\s[^,;]*$", "", kept[0]).rstrip(",; ") + "."
    return " ".join(kept).strip()


def support(evidence: Evidence) -> str:
    """What an explanation may assert: the product's title and the evidence. The shopper's query
    is not support: "linen" asked for is not "linen" found (a modifier the product satisfies is
    in the evidence as a constraint)."""
    parts = prompt_parts(evidence)
    return " ".join([parts["product"], parts["evidence"]])


def template_explanation(evidence: Evidence) -> str:
    """An explanation built from the evidence alone (always grounded)."""
    title = product_name(evidence)
    parts = ["it is among the most bought products"] if evidence.popularity is not None else []
    parts += [f"it is {c}" for c in evidence.contrasts]
    if evidence.shared:
        parts.append("it has the same " + ", ".join(
            f"{k.replace('_', ' ')} ({v})" for k, v in list(evidence.shared.items())[:SHARED_SAID]))
    if evidence.constraints:
        parts.append("it satisfies " + "; ".join(evidence.constraints))
    if evidence.complement:
        parts.append(evidence.complement["reason"])
    words = evidence.matched_product_words(3)
    if words:
        parts.append("the words that matched most were " + ", ".join(words))
    if evidence.region:
        parts.append("its whole photo matched" if evidence.region == "all over the product" else
                     f"its photo matched most at {evidence.region}")
    if not parts:
        best = max(evidence.similarity.items(), key=lambda kv: kv[1], default=None)
        parts.append(f"its {best[0]} is the closest match ({best[1]:.2f})" if best else
                     "it is among the closest matches")
    return f"{title} was chosen because " + "; ".join(parts) + "."


@dataclass
class Explanation:
    text: str
    source: str                        # "llm" or "template"
    attempts: int                      # LLM generations tried
    rejected: list[list[str]] = field(default_factory=list)   # unsupported claims per rejection
    reason: str | None = None          # why the template was used
    first_token_s: float | None = None
    total_s: float = 0.0

    @property
    def grounded_first_time(self) -> bool:
        return self.source == "llm" and self.attempts == 1


class ExplanationWriter:
    def __init__(self, llm: LocalLLM, grounding: Grounding, max_tokens: int = 120,
                 timeout: float = 30.0, retries: int = 1):
        self.llm, self.grounding = llm, grounding
        self.max_tokens, self.timeout, self.retries = max_tokens, timeout, retries

    def stream(self, evidence: Evidence) -> Iterator[tuple[str, object]]:
        """Events as they happen: ``("token", piece)`` while the model writes, ``("retry",
        claims)`` when a text is rejected (a viewer clears it), ``("replace", text)`` when the
        template takes over, and last ``("done", Explanation)``."""
        start = time.perf_counter()
        given = support(evidence)
        result = Explanation("", "llm", 0)
        for attempt in range(1 + self.retries):
            result.attempts += 1
            pieces = []
            for piece in self.llm.stream(messages(evidence), self.max_tokens,
                                         temperature=0.2 if attempt == 0 else 0.7,
                                         timeout=self.timeout):
                if result.first_token_s is None:
                    result.first_token_s = time.perf_counter() - start
                pieces.append(piece)
                yield "token", piece
            text = tidy("".join(pieces))
            bad = (self.grounding.unsupported(text, given) + untruthful(text, evidence, self.grounding)
                   + recited(text) if text else ["(empty)"])
            if not bad:
                result.text = text
                break
            result.rejected.append(bad)
            yield "retry", bad
        else:
            result.text, result.source = template_explanation(evidence), "template"
            result.reason = "unsupported or untruthful: " + "; ".join(", ".join(b) for b in result.rejected)
            yield "replace", result.text
        result.total_s = time.perf_counter() - start
        yield "done", result

    def write(self, evidence: Evidence) -> Explanation:
        for kind, payload in self.stream(evidence):
            if kind == "done":
                return payload
        raise AssertionError("stream ended without a result")
