"""Explanations true by construction: code chooses the claims (``claims.chosen``), and the local
LLM only words them. It is shown each claim's sentence forms (``wording.options``) and a llama.cpp
grammar built per match lets it answer nothing but one form's number per claim, in the claims'
order; so a catalogue value, a number, "only", "cheapest" or "you asked" can appear only where a
claim licenses it. (A grammar over the forms' words themselves cost 3.5x the time per token, and
every forced token is one more step: about 50 steps against 3.) The text is then checked for
defects (``defects``); the realiser's text (``wording.realise``) is the fallback, and the mode
without a model.

Sentences are streamed whole: a text cut off or stopped never shows half a claim.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prompts import load
from retrieval import MATERIALS, Vocabulary, normalise
from runtime import LocalLLM

from .claims import chosen
from .defects import defects
from .evidence import Evidence
from .instructions import without_instructions
from .wording import Sentence, offered, realise

# Colour words a text may use even when the catalogue has no such value.
COLOUR_WORDS = ("black", "white", "red", "blue", "navy", "green", "yellow", "pink", "purple",
                "orange", "brown", "grey", "gray", "beige", "maroon", "olive", "cream", "gold",
                "silver", "teal", "khaki", "tan", "peach", "magenta", "turquoise", "lavender")
PLACEHOLDERS = {"", "other", "others", "na", "n a", "none", "misc"}
REALISER = "template"        # the source name of the realiser's texts (stored with ratings)


def folded(text: str) -> str:
    """``normalise`` plus the -es plurals it leaves ("dresses" -> "dress", "watches" -> "watch")."""
    words = normalise(text).split()
    return " ".join(w[:-1] if len(w) > 4 and w.endswith(("sse", "che", "she", "xe", "zze")) else w
                    for w in words)


def quoted(text: str | None) -> str:
    """Text placed inside <data> tags: angle brackets dropped so it cannot close the quote."""
    return " ".join(str(text or "").replace("<", " ").replace(">", " ").split())


class Grounding:
    """The catalogue's values as terms, normalised, longest first (placeholders such as "Other" or
    "NA" are plain words): what the defect check looks for in what a text says was asked."""

    def __init__(self, terms: Iterable[str]):
        self.terms = sorted({folded(t) for t in terms if folded(t) not in PLACEHOLDERS},
                            key=lambda t: (-len(t.split()), -len(t)))

    @classmethod
    def of(cls, vocabulary: Vocabulary) -> Grounding:
        return cls([*vocabulary.phrases, *MATERIALS, *COLOUR_WORDS])


def product_name(evidence: Evidence) -> str:
    """What a prompt calls the product (``Evidence.product["name"]``: its title when that is
    name-shaped, else brand, colour and type)."""
    p = evidence.product
    return p.get("name") or without_instructions(p.get("title") or "") or "This product"


def messages(evidence: Evidence, forms: list[list[str]]) -> list[dict]:
    """The rules, then this match: the product's name (catalogue text, quoted as data) and each
    claim's numbered sentence forms."""
    facts = "\n".join(f"Fact {i + 1}:\n" + "\n".join(f"{j + 1}. {quoted(s)}" for j, s in enumerate(f))
                      for i, f in enumerate(forms))
    return [{"role": "system", "content": load("explain_system").substitute()},
            {"role": "user", "content": load("explain_user").substitute(
                product=quoted(product_name(evidence)), facts=facts)}]


def grammar(forms: list[list[str]]) -> str:
    """GBNF admitting one form's number per claim, in order."""
    return "\n".join([f"root ::= {' '.join(f'c{i}' for i in range(len(forms)))}",
                      *(f"c{i} ::= [1-{len(f)}]" for i, f in enumerate(forms))])


@dataclass
class Explanation:
    text: str
    source: str                        # "llm" or the realiser's ``REALISER``
    sentences: list[Sentence] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)    # of the LLM's text, when it was replaced
    reason: str | None = None          # why the realiser's text was used
    first_token_s: float | None = None
    total_s: float = 0.0

    def to_json(self) -> dict:
        """Each sentence with the claim it states and the claim's evidence (the analysts' view)."""
        return {"sentences": [{"text": s.text, "claim": s.claim.kind, "evidence": s.claim.evidence}
                              for s in self.sentences],
                "defects": self.defects, "reason": self.reason}


def realised(evidence: Evidence) -> Explanation:
    """The realiser's explanation of ``evidence`` (no model)."""
    start = time.perf_counter()
    sentences = realise(chosen(evidence), evidence.product.get("article_type"), str(evidence.product.get("id")))
    return Explanation(" ".join(s.text for s in sentences), REALISER, sentences,
                       total_s=time.perf_counter() - start)


def template_explanation(evidence: Evidence) -> str:
    """The realiser's text for ``evidence``."""
    return realised(evidence).text


class ExplanationWriter:
    """Words the chosen claims with the local LLM under a grammar; ``grounding`` (the catalogue's
    terms) feeds the defect check."""

    def __init__(self, llm: LocalLLM, grounding: Grounding, timeout: float = 30.0):
        self.llm, self.grounding, self.timeout = llm, grounding, timeout

    def stream(self, evidence: Evidence) -> Iterator[tuple[str, object]]:
        """Events as they happen: ``("token", sentence)`` for each whole sentence the model writes,
        ``("replace", text)`` when the realiser's text takes over, and last ``("done",
        Explanation)``."""
        start = time.perf_counter()
        claims = chosen(evidence)
        kind = evidence.product.get("article_type")
        forms = [offered(c, kind, str(evidence.product.get("id"))) for c in claims]
        result = Explanation("", "llm")
        done: list[Sentence] = []
        for piece in self.llm.stream(messages(evidence, forms), len(forms) + 1, temperature=0.3,
                                     timeout=self.timeout, grammar=grammar(forms)):
            if result.first_token_s is None:
                result.first_token_s = time.perf_counter() - start
            for digit in piece.strip():
                if len(done) < len(claims) and digit.isdigit() and 0 < int(digit) <= len(forms[len(done)]):
                    sentence = Sentence(forms[len(done)][int(digit) - 1], claims[len(done)])
                    done.append(sentence)
                    yield "token", sentence.text + " "
        text = " ".join(s.text for s in done)
        bad = ([] if len(done) == len(claims) else ["unfinished"]) + defects(text, evidence, self.grounding.terms)
        if bad:
            fallback = realised(evidence)
            result.text, result.source, result.sentences = fallback.text, REALISER, fallback.sentences
            result.defects, result.reason = bad, "the model's text had defects: " + "; ".join(bad)
            yield "replace", result.text
        else:
            result.text, result.sentences = text, done
        result.total_s = time.perf_counter() - start
        yield "done", result

    def write(self, evidence: Evidence) -> Explanation:
        for kind, payload in self.stream(evidence):
            if kind == "done":
                return payload
        raise AssertionError("stream ended without a result")
