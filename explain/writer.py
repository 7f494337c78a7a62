"""Short explanations written by the local LLM from the evidence only, and checked.

The prompt (``prompts/explain_*.txt``) gives the query, the product's title and the evidence's
facts; product and shopper text is quoted inside ``<data>`` tags with the tag characters removed,
so it cannot close the quote. The grounding check then finds every catalogue term the text uses
(colours, materials, patterns, article types, genders, occasions, seasons, ...) and every number,
and rejects the text if one of them is not in what the model was given. A rejected explanation is
regenerated once; if that fails too, a template-built explanation replaces it, and the reason is
recorded.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prompts import load
from retrieval.vocabulary import MATERIALS, Vocabulary, normalise

from .evidence import Evidence
from .instructions import without_instructions
from .llm import LocalLLM

# Colour and material words a model may use even when the catalogue has no such value.
COLOUR_WORDS = ("black", "white", "red", "blue", "navy", "green", "yellow", "pink", "purple",
                "orange", "brown", "grey", "gray", "beige", "maroon", "olive", "cream", "gold",
                "silver", "teal", "khaki", "tan", "peach", "magenta", "turquoise", "lavender")
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
    """Finds the catalogue terms and numbers a text asserts, and which the evidence lacks."""

    def __init__(self, terms: Iterable[str]):
        self.terms = sorted({folded(t) for t in terms if folded(t)},
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


def _number(text: str) -> float:
    """"1,299" -> 1299.0, "0.60" -> 0.6 (a comma before exactly three digits groups thousands)."""
    text = re.sub(r",(?=\d{3}\b)", "", text).replace(",", ".")
    return round(float(text), 6)


def prompt_parts(evidence: Evidence) -> dict[str, str]:
    """The query, product title and evidence lines as the prompt quotes them: instruction-like
    sentences and pasted code are left out of the shopper's and the catalogue's text."""
    query = without_instructions(evidence.query.text or "") or (
        "the most bought products" if evidence.query.kind == "popular" else
        f"products like {evidence.query.product_id}" if evidence.query.product_id else "a photo")
    return {"query": quoted(query), "product": quoted(product_name(evidence)),
            "evidence": "\n".join(f"- {quoted(line)}" for line in map(without_instructions,
                                                                            evidence.facts()) if line)}


def messages(evidence: Evidence) -> list[dict]:
    """System rules, one worked example, then this match."""
    return [{"role": "system", "content": load("explain_system").substitute()},
            {"role": "user", "content": load("explain_example_user").substitute()},
            {"role": "assistant", "content": load("explain_example_assistant").substitute()},
            {"role": "user", "content": load("explain_user").substitute(prompt_parts(evidence))}]


def product_name(evidence: Evidence) -> str:
    """What explanations call the product (``Evidence.product["name"]``: its title when that is
    name-shaped, else brand, colour and type)."""
    p = evidence.product
    return p.get("name") or without_instructions(p.get("title") or "") or "This product"


def tidy(text: str, max_sentences: int = 2) -> str:
    """Model output as plain prose: quoting tags, list markers and line breaks removed, at most
    ``max_sentences`` sentences."""
    text = re.sub(r"</?\s*(data|evidence)\s*>", "", text)
    text = re.sub(r"(?m)^\s*(?:[-*•]|\d+[.)])\s+", "", text)
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return " ".join(sentences[:max_sentences]).strip()


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
    if evidence.shared:
        parts.append("it has the same " + ", ".join(
            f"{k.replace('_', ' ')} ({v})" for k, v in evidence.shared.items()))
    if evidence.constraints:
        parts.append("it satisfies " + "; ".join(evidence.constraints))
    if evidence.complement:
        parts.append(evidence.complement["reason"])
    words = evidence.matched_product_words(3)
    if words:
        parts.append("the words that matched most were " + ", ".join(words))
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
            bad = self.grounding.unsupported(text, given) if text else ["(empty)"]
            if not bad:
                result.text = text
                break
            result.rejected.append(bad)
            yield "retry", bad
        else:
            result.text, result.source = template_explanation(evidence), "template"
            result.reason = "unsupported claims: " + "; ".join(", ".join(b) for b in result.rejected)
            yield "replace", result.text
        result.total_s = time.perf_counter() - start
        yield "done", result

    def write(self, evidence: Evidence) -> Explanation:
        for kind, payload in self.stream(evidence):
            if kind == "done":
                return payload
        raise AssertionError("stream ended without a result")
