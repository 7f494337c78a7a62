"""The deterministic planner: intents by keyword patterns, attribute values the catalogue knows,
prices, and references to products on screen. Fast and predictable; it says when it is unsure
(``None``) so the LLM planner can try."""
from __future__ import annotations

import re

import numpy as np

from retrieval.index import ProductIndex
from retrieval.vocabulary import Vocabulary, price_limit

from .calls import Plan, ToolCall
from .state import NUMBERED, ORDINAL, ORDINALS, PHOTO, Conversation, mentions_reference


def _re(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


RESET = _re(r"\b(reset|start (?:over|again)|clear (?:everything|all|filters)|forget (?:it|everything))\b")
EXPLAIN = _re(r"\b(why|explain|reason|how come)\b")
COMPARE = _re(r"\b(compare|comparison|difference between|versus|vs\.?)\b")
COMPLETE = _re(r"\b(goes? with|go with|wear (?:it |this |that )?with|pair (?:it |this |that )?with|"
               r"complete the (?:look|outfit)|match(?:es)? (?:it|this|that)|outfit|to match)\b")
CLUSTER = _re(r"\b(cluster|same group|its group|this group|that group|the group|collection)\b")
RECOMMEND = _re(r"\b(recommend\w*|suggest\w*|based on (?:my|what i)|for me\b(?!\s+\w)|"
                r"picks? for me|what (?:else )?would i like)")
EXCLUDE = _re(r"\b(not (?:that|this|it|the \w+)(?: one)?|don'?t (?:like|want|show) (?:that|this|it)|"
              r"hide (?:that|this|it)|remove (?:that|this|it)|no more of (?:that|this))\b")
REFINE = _re(r"\b(?:like|same as) (?:this|that|it|the \w+(?: one)?|#\d+)\b.*?\bbut\b\s*(.+)|"
             r"^\s*(?:but|same but|similar but|now)\s+(.+)|"
             r"\b(?:this|that|it) but\s+(.+)")
SIMILAR = _re(r"\b(more like|similar to|similar|like (?:this|that|it|the \w+(?: one)?|#\d+)|"
              r"something like|alternatives? to|others like)\b")
CHEAPER = _re(r"\b(cheaper|less expensive|lower price|more affordable)\b")
FILTER_ONLY = _re(r"^\s*(?:(?:only|just|show(?: me)?|in|for|make (?:it|them)|what about|and|"
                  r"under|below|less than|within|budget(?: of)?|max|rs\.?|inr|₹|\$|please|the|"
                  r"ones?|those|them|colou?r|\d[\d,]*)\s*)+")
SEARCH = _re(r"\b(show|find|looking for|look for|search|need|want|get me|do you have|any|"
             r"i'?d like|buy|shop)\b")
SELECT = _re(r"^\s*(?:(?:show|open|tell)(?: me)?(?: more)?(?: about)?\s+)?(?:the\s+)?"
             r"(?:(?:" + "|".join(ORDINALS) + r"|last)(?:\s+(?:one|item|product))?|#\d{1,2}|"
             r"number \d{1,2}|that one|this one)\s*[.!?]?\s*$")
# Text that talks to the assistant's instructions is searched as words, never planned by the LLM.
INSTRUCTION = _re(r"\b(ignore (?:all |any |the |your )?(?:previous |prior |above )?(?:instructions|rules)|"
                  r"system prompt|you are now|disregard|jailbreak|developer mode)\b")
REFERENCE = re.compile(ORDINAL.pattern + "|" + NUMBERED.pattern)
FIRST_N = _re(r"\b(?:first|top) (two|three|four|2|3|4)\b")
WORD_NUMBERS = {"two": 2, "three": 3, "four": 4}


class Parser:
    """Turns one shopper message into a plan, or ``None`` when it cannot tell what is asked."""

    def __init__(self, vocabulary: Vocabulary, index: ProductIndex):
        self.vocabulary, self.index = vocabulary, index

    def filters_in(self, text: str) -> dict:
        """Catalogue values and a price bound named in ``text``."""
        mod = self.vocabulary.parse(text)
        found = {f: v for f, v in mod.values.items() if f in ("gender", "colour", "article_type")}
        if (limit := price_limit(text)) is not None:
            found["price_max"] = limit
        return found

    def references(self, text: str) -> list[str]:
        """Every product reference in order: "the first and the third" -> two references."""
        return [m.group(0) for m in REFERENCE.finditer(text.lower())]

    def reference(self, text: str, state: Conversation) -> str:
        refs = self.references(text)
        if refs:
            return refs[0]
        if state.photo is not None and (state.photo_turn == state.turns or re.search(
                r"\b(photo|picture|image|pic)\b", text, re.IGNORECASE)):
            return PHOTO                # a photo sent with this turn, or named
        kind = re.search(r"\b(?:that|this|the)\s+([a-z][a-z -]{2,30}?)\b(?=\s+but\b|[?.!,]|$)",
                         text.lower())
        return kind.group(0) if kind else "this"

    def parse(self, text: str, state: Conversation) -> Plan | None:
        t = text.strip()
        if not t:
            return Plan("search", [ToolCall("search", {"photo": True})]) \
                if state.photo_turn == state.turns else None
        if INSTRUCTION.search(t):
            return Plan("search", [ToolCall("search", {"text": t})])
        if RESET.search(t):
            return Plan("reset", [ToolCall("reset")])
        if COMPARE.search(t):
            return Plan("compare", [ToolCall("compare", {"products": self.compared(t, state)})])
        if EXPLAIN.search(t):
            return Plan("explain", [ToolCall("explain", {"product": self.reference(t, state)})])
        if COMPLETE.search(t):
            return Plan("complete_look", [ToolCall("complete_look", {"product": self.reference(t, state)})])
        if CLUSTER.search(t):
            return Plan("show_cluster", [ToolCall("show_cluster", {"product": self.reference(t, state)})])
        if EXCLUDE.search(t):
            return Plan("exclude", [ToolCall("exclude", {"product": self.reference(t, state)})])
        if m := REFINE.search(t):
            modifier = next(g for g in m.groups() if g).strip(" .!?")
            return Plan("refine", [ToolCall("refine", {"product": self.reference(t, state),
                                                       "modifier": modifier})])
        if CHEAPER.search(t) and (state.focus or mentions_reference(t)):
            return Plan("refine", [ToolCall("refine", {"product": self.reference(t, state),
                                                       "modifier": "cheaper"})])
        if CHEAPER.search(t) and state.last_search and state.shown:
            prices = [p.price for p in self.index.products(
                self.index.key_of(i) for i in state.shown if i in self.index).values()
                if p.price is not None]
            if prices:             # cheaper than the middle of what is on screen
                return Plan("filter", [ToolCall("filter", {"price_max": float(np.median(prices))})])
        if SIMILAR.search(t):
            return Plan("similar_to", [ToolCall("similar_to", {"product": self.reference(t, state)})])
        if RECOMMEND.search(t):
            return Plan("recommend_for_user", [ToolCall("recommend_for_user")])
        if SELECT.search(t):
            return Plan("select", [ToolCall("select", {"product": self.reference(t, state)})])
        found = self.filters_in(t)
        if state.last_search and found and "article_type" not in found and \
                not FILTER_ONLY.sub("", self.vocabulary.without_values(t)).strip(" .,!?"):
            return Plan("filter", [ToolCall("filter", found)])
        if found or SEARCH.search(t) or state.photo_turn == state.turns:
            args = {"text": t, **found}
            if state.photo is not None and (state.photo_turn == state.turns or
                                            re.search(r"\b(photo|picture|image|pic)\b", t, re.I)):
                args["photo"] = True
            return Plan("search", [ToolCall("search", args)])
        return None

    def compared(self, text: str, state: Conversation) -> list[str]:
        if m := FIRST_N.search(text):
            n = WORD_NUMBERS.get(m.group(1).lower()) or int(m.group(1))
            return [f"#{i + 1}" for i in range(n)]
        refs = self.references(text)
        if len(refs) >= 2:
            return refs
        if refs:
            return ["this", refs[0]]
        return ["#1", "#2"]
