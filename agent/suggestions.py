"""What the shopper might say next, from the conversation: short follow-ups shown as chips under an
answer, each a message the agent understands as typed."""
from __future__ import annotations

from retrieval import ProductIndex

from .calls import Answer
from .state import Conversation
from .tools import TOOLS

STARTERS = 3


def suggestions(answer: Answer, state: Conversation, index: ProductIndex) -> list[str]:
    """Follow-ups for ``answer``: on a listing, "why #1?", "more like #1", #1 in the colour its
    kind comes in most, "cheaper" and "what goes with #1?"; on an explanation, the look and the
    look-alikes of that product; with nothing on screen, searches the catalogue can answer."""
    intent = answer.trace.intent
    if intent == "explain" and answer.cards:
        return ["what goes with it?", "more like this"]
    if intent in TOOLS and TOOLS[intent].lists and answer.cards and state.shown:
        first = index.product(state.shown[0]) if state.shown[0] in index else None
        chips = ["why #1?", "more like #1"]
        colour = other_colour(index, first.article_type, first.colour) if first else None
        if colour:
            chips.append(f"like #1 but in {colour.lower()}")
        if any(c.price for c in answer.cards):
            chips.append("cheaper")
        if intent != "complete_look":
            chips.append("what goes with #1?")
        return chips
    if not state.shown:
        return starters(index)
    return []


def other_colour(index: ProductIndex, article_type: str | None, colour: str | None) -> str | None:
    """The colour that ``article_type`` comes in most often in the catalogue, other than ``colour``."""
    if not article_type:
        return None
    return next((c for t, c, _ in index.facet_counts("article_type", "colour")
                 if t == article_type and c and c != colour), None)


def starters(index: ProductIndex) -> list[str]:
    """Searches for the catalogue's most common kinds of product, e.g. "tshirts for men"."""
    chips = []
    for gender, kind, _ in index.facet_counts("gender", "article_type"):
        if gender and kind and gender.lower() in ("men", "women"):
            chips.append(f"{kind.lower()} for {gender.lower()}")
        if len(chips) == STARTERS:
            break
    return chips
