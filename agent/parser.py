"""The deterministic planner: intents by keyword patterns, attribute values the catalogue knows,
prices, and references to products on screen. Fast and predictable; it says when it is unsure
(``None``) so the LLM planner can try."""
from __future__ import annotations

import re

import numpy as np

from explain.instructions import CODE, TURN_CUES
from retrieval import Modifier, ProductIndex, Vocabulary, change_text, normalise

from .calls import Plan, ToolCall
from .state import DEICTIC, NUMBERED, ORDINAL, ORDINALS, PHOTO, Conversation, mentions_reference


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
CHEAPER = _re(r"\b(cheaper|less expensive|lower price|more affordable|too (?:pricey|expensive|costly))\b")
AMOUNT = re.compile(r"\d[\d.]*k?")
# A turn about the product in focus ("do you have it in blue?", "a blue version of this", "same
# style, in linen", "can I get this with short sleeves?", "is there a linen one like this?").
FOCUS_CUE = _re(r"\b(it|this|that|same|version|like this|like that|like it)\b")
CHANGEABLE = ("colour", "fabric", "pattern", "sleeve", "fit", "neck")
# Words that may surround the values of a follow-up that only changes the need ("blue ones
# instead", "how about in black?", "anything under 2k?"), normalised.
FILLER = {normalise(w) for w in (
    "only just show me in for make it them what about how and or under below less than within "
    "budget of max maximum up to upto over above more at least between from to rs inr rupees bucks "
    "k please the a an one ones those these them colour color price priced instead rather any "
    "anything something some do you have got have i want would like prefer maybe perhaps also "
    "same but with without available is are there now then okay ok hmm well maybe").split()}
SEARCH = _re(r"\b(show|find|looking for|look for|search|need|want|get me|do you have|any|"
             r"i'?d like|buy|shop)\b")
SELECT = _re(r"^\s*(?:(?:show|open|tell)(?: me)?(?: more)?(?: about)?\s+)?(?:the\s+)?"
             r"(?:(?:" + "|".join(ORDINALS) + r"|last)(?:\s+(?:one|item|product))?|#\d{1,2}|"
             r"number \d{1,2}|that one|this one)\s*[.!?]?\s*$")
# Small talk: answered with what the assistant can do, never searched as words.
GREETING = _re(r"^\W*(?:hi+|hello|hey|hiya|good (?:morning|afternoon|evening)|namaste|yo)(?: there)?\W*$")
THANKS = _re(r"^\W*(?:thanks?(?: you| a lot| so much)?|thx|ty|cheers|great|cool|nice|awesome|perfect|"
             r"ok(?:ay)?|got it|bye|goodbye)\W*$")
# Text that talks to the assistant's instructions is searched as words, never planned by the LLM
# (the agent leaves such sentences out before the parser sees a turn).
INSTRUCTION = re.compile(f"{TURN_CUES.pattern}|{CODE.pattern}", re.IGNORECASE)
PHOTO_WORD = _re(r"\b(photo|picture|image|pic)\b")
# Intents a pattern decides alone, in order of precedence: before the rules about values and the
# screen, then after them.
DECISIVE = (("search", INSTRUCTION), ("help", GREETING), ("help", THANKS), ("reset", RESET),
            ("compare", COMPARE), ("explain", EXPLAIN), ("complete_look", COMPLETE),
            ("show_cluster", CLUSTER), ("exclude", EXCLUDE), ("refine", REFINE))
WEAKER = (("similar_to", SIMILAR), ("recommend_for_user", RECOMMEND), ("select", SELECT))
POSITION = re.compile(r"(?<![\d#.,₹$])\b([1-9]|10)\b(?![\d.,]|\s*(?:k\b|%|rs\b|inr\b|rupees|bucks|year|yr))")
REFERENCE = re.compile(ORDINAL.pattern + "|" + NUMBERED.pattern)
FIRST_N = _re(r"\b(?:first|top) (two|three|four|2|3|4)\b")
WORD_NUMBERS = {"two": 2, "three": 3, "four": 4}


class Parser:
    """Turns one shopper message into a plan, or ``None`` when it cannot tell what is asked."""

    def __init__(self, vocabulary: Vocabulary, index: ProductIndex):
        self.vocabulary, self.index = vocabulary, index

    def filters_in(self, text: str, mod: Modifier | None = None) -> dict:
        """Catalogue values (a list where several are named: "red or maroon") and the price
        bounds named in ``text`` (``mod``: its parse, when already made)."""
        mod = mod or self.vocabulary.parse(text)
        found = {f: v if isinstance(v, str) else list(v) for f, v in mod.values.items()
                 if f in ("gender", "colour", "article_type")}
        found.update({k: v for k, v in (("price_min", mod.price_min), ("price_max", mod.price_max))
                      if v is not None})
        return found

    def references(self, text: str) -> list[str]:
        """Every product reference in order: "the first and the third" -> two references; bare
        positions ("show 3", "compare 1 & 2", "why'd belt 2 come up") when there is none else."""
        named = [m.group(0) for m in REFERENCE.finditer(text.lower())]
        if named or DEICTIC.search(text.lower()):       # "this pack of 3" names "this"
            return named
        return [f"#{m.group(1)}" for m in POSITION.finditer(text.lower())]

    def reference(self, text: str, state: Conversation) -> str:
        refs = self.references(text)
        if refs:
            return refs[0]
        if state.photo is not None and (state.photo_turn == state.turns or PHOTO_WORD.search(text)):
            return PHOTO                # a photo sent with this turn, or named
        kind = re.search(r"\b(?:that|this|the)\s+([a-z][a-z -]{2,30}?)\b(?=\s+but\b|[?.!,]|$)",
                         text.lower())
        return kind.group(0) if kind else "this"

    def parse(self, text: str, state: Conversation) -> Plan | None:
        """The plan for ``text``: its intent by keyword patterns, then that intent's arguments."""
        t = text.strip()
        mod = self.vocabulary.parse(t)                     # the values and price the turn names
        intent = self.intent(t, state, mod)
        return self.plan(intent, t, state, mod) if intent else None

    def intent(self, t: str, state: Conversation, mod: Modifier) -> str | None:
        """The tool a turn asks for ("help" for small talk), or ``None`` when no pattern says."""
        if not t:
            return "search" if state.photo_turn == state.turns else None
        for intent, pattern in DECISIVE:
            if pattern.search(t):
                return intent
        on_screen = bool(state.focus or state.shown)
        if on_screen and FOCUS_CUE.search(t) and set(mod.values) & set(CHANGEABLE):
            return "refine"
        if CHEAPER.search(t) and (state.focus or mentions_reference(t)):
            return "refine"
        if CHEAPER.search(t) and state.last_search and state.shown:
            return "filter"
        for intent, pattern in WEAKER:
            if pattern.search(t):
                return intent
        found = self.filters_in(t, mod)
        if state.last_search and found and "article_type" not in found and self.only_values(t):
            return "filter"
        if found or SEARCH.search(t) or state.photo_turn == state.turns:
            return "search"
        return None

    def only_values(self, t: str) -> bool:
        """Whether ``t`` names values and filler words only ("blue ones instead", "under 2k?")."""
        return all(w in FILLER or AMOUNT.fullmatch(w) for w in self.vocabulary.without_values(t).split())

    def plan(self, intent: str, t: str, state: Conversation, mod: Modifier | None = None) -> Plan:
        """The calls for ``intent`` with the arguments the turn names: catalogue values, prices,
        product references (whoever decided the intent)."""
        mod = mod or self.vocabulary.parse(t)
        ref = lambda: {"product": self.reference(t, state)}
        if intent == "help":
            reply = ("Hi! What are you shopping for today?" if GREETING.search(t) else
                     "You're welcome. Anything else?" if THANKS.search(t) else "")
            return Plan("help", [], reply)
        if intent in ("reset", "recommend_for_user"):
            return Plan(intent, [ToolCall(intent)])
        if intent == "compare":
            return Plan("compare", [ToolCall("compare", {"products": self.compared(t, state)})])
        if intent in ("explain", "show_cluster", "exclude", "similar_to", "select"):
            return Plan(intent, [ToolCall(intent, ref())])
        if intent == "complete_look":
            if not (state.shown or state.focus or state.photo is not None or mentions_reference(t)):
                # "formal shoes to go with a suit", nothing on screen: a search for the kind asked
                return self.plan("search", t, state, mod)
            args = ref()
            if kind := mod.values.get("article_type") or mod.values.get("category"):
                args["category"] = kind if isinstance(kind, str) else list(kind)   # "what shoes go with it?"
            return Plan("complete_look", [ToolCall("complete_look", args)])
        if intent == "refine":
            return Plan("refine", [ToolCall("refine", {**ref(), "modifier": self.modifier(t, mod)})])
        if intent == "filter":
            found = self.filters_in(t, mod)
            if CHEAPER.search(t) and "price_max" not in found and (price := self.middle_price(state)):
                found["price_max"] = price       # cheaper than the middle of what is on screen
            if found:
                return Plan("filter", [ToolCall("filter", found)])
        args = {"text": t, **self.filters_in(t, mod)} if t else {}
        if state.photo is not None and (state.photo_turn == state.turns or PHOTO_WORD.search(t)):
            args["photo"] = True
        return Plan("search", [ToolCall("search", args or {"text": t})])

    def modifier(self, t: str, mod: Modifier) -> str:
        """What a refinement changes: the words after "but", the values of the changeable
        attributes named ("do you have it in blue?"), "cheaper", else the turn itself."""
        if m := REFINE.search(t):
            return next(g for g in m.groups() if g).strip(" .!?")
        if set(mod.values) & set(CHANGEABLE):
            return change_text(mod.values)
        if CHEAPER.search(t):
            return "cheaper"
        return t

    def middle_price(self, state: Conversation) -> float | None:
        prices = [p.price for p in self.index.products(
            self.index.key_of(i) for i in state.shown if i in self.index).values() if p.price is not None]
        return float(np.median(prices)) if prices else None

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
