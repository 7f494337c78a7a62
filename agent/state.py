"""What a conversation remembers between turns, and how "this", "the second one", "that jacket"
resolve against it."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from explain.evidence import Query
from retrieval import Filters, ProductIndex, in_words, normalise

from .calls import Listing

PHOTO = "photo"                 # the reference that names the shopper's uploaded photo

ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3,
            "4th": 3, "fifth": 4, "5th": 4, "sixth": 5, "6th": 5, "seventh": 6, "7th": 6,
            "eighth": 7, "8th": 7, "ninth": 8, "9th": 8, "tenth": 9, "10th": 9, "top one": 0,
            "at the top": 0}
ORDINAL = re.compile(r"\b(" + "|".join(ORDINALS) + r"|last)\b(?:\s+(?:one|item|product))?")
NUMBERED = re.compile(r"(?:#|\bnumber\s+|\bno\.?\s*|\bitem\s+|\boption\s+)(\d{1,2})\b")
DEICTIC = re.compile(r"\b(this|that|it|these|those|the same)\b")
NOTHING_SHOWN = ("Which product do you mean? Nothing is on screen yet: try a search first, "
                 "e.g. \"navy shirts for men\".")


class UnresolvedReference(LookupError):
    """A reference the conversation cannot resolve; the message is a question for the shopper."""


@dataclass
class Conversation:
    """The state of one shopper's chat."""

    shown: list[str] = field(default_factory=list)       # product ids of the last answer, in order
    scores: dict[str, float] = field(default_factory=dict)   # their ranking scores
    focus: str | None = None                             # the product being talked about
    filters: dict = field(default_factory=dict)          # gender, article_type, colour, price_*
    excluded: list[str] = field(default_factory=list)    # "not that": never shown again
    history: list[str] = field(default_factory=list)     # products looked at, oldest first
    last_search: Listing | None = None                   # the listing to re-run on a new filter
    photo: str | None = None                             # path of the shopper's uploaded photo
    photo_turn: int = -1                                 # the turn it was uploaded on
    turns: int = 0

    def show(self, product_ids: list[str], scores: list[float]) -> None:
        self.shown = list(product_ids)
        self.scores = dict(zip(product_ids, scores))

    def clear(self) -> None:
        """Forget everything but the number of turns ("reset")."""
        self.__dict__.update(vars(Conversation(turns=self.turns)))

    def query_for(self, product_id: str) -> Query:
        """The query a shown product answered (its listing's), else the product itself."""
        if self.last_search is None or product_id not in self.shown:
            return Query("item", product_id=product_id)
        return self.last_search.query

    def look_at(self, product_id: str) -> None:
        """Make ``product_id`` the focus and add it to the browsing history."""
        self.focus = product_id
        if not self.history or self.history[-1] != product_id:
            self.history.append(product_id)

    def describe_filters(self, only: Sequence[str] | None = None, without: Sequence[str] = ()) -> str:
        """The active filters in words: "gender Men, colour Red or Maroon, price max 1500"."""
        return ", ".join(f"{k.replace('_', ' ')} {v if isinstance(v, (int, float)) else in_words(v)}"
                         for k, v in self.filters.items()
                         if (only is None or k in only) and k not in without)

    def search_filters(self, without: Sequence[str] = ()) -> Filters:
        """The active filters (all but ``without``) as index filters."""
        f = {k: v for k, v in self.filters.items() if k not in without}
        return Filters(gender=f.get("gender"), article_type=f.get("article_type"),
                       colour=f.get("colour"), price_min=f.get("price_min"),
                       price_max=f.get("price_max"))

    def to_json(self) -> dict:
        return {"shown": self.shown, "focus": self.focus, "filters": self.filters,
                "excluded": self.excluded, "history": self.history, "turns": self.turns,
                "photo": self.photo is not None}


def mentions_reference(text: str) -> bool:
    t = text.lower()
    return bool(ORDINAL.search(t) or NUMBERED.search(t) or DEICTIC.search(t))


def resolve(reference: str | None, state: Conversation, index: ProductIndex) -> str:
    """The product id a reference names: a product id, "the second one", "#3", "the last one",
    "that jacket" (a shown product of that type, the focus first), "this"/"it" (the focus).
    Raises ``UnresolvedReference`` with a question when it names nothing."""
    ref = (reference or "").strip()
    if ref in index:
        return ref
    text = ref.lower()
    position = None
    if m := NUMBERED.search(text):
        position = int(m.group(1)) - 1
    elif m := ORDINAL.search(text):
        position = -1 if m.group(1) == "last" else ORDINALS[m.group(1)]
    if position is not None:
        if not state.shown:
            raise UnresolvedReference(NOTHING_SHOWN)
        if position >= len(state.shown):
            shown = f"{len(state.shown)} product" + ("s" if len(state.shown) > 1 else "")
            raise UnresolvedReference(f"I only showed {shown}; which one do you mean (1 to {len(state.shown)})?")
        return state.shown[position]
    kind = _kind_named(text, state, index)
    if kind is not None:
        return kind
    if state.focus is not None and (not text or DEICTIC.search(text)):
        return state.focus
    if state.shown and (not text or DEICTIC.search(text)):
        return state.shown[0]
    if not state.shown:
        raise UnresolvedReference(NOTHING_SHOWN)
    raise UnresolvedReference(f"I couldn't tell which product \"{ref}\" is. Which of those shown "
                              f"do you mean (1 to {len(state.shown)})?")


def _kind_named(text: str, state: Conversation, index: ProductIndex) -> str | None:
    """ "that jacket": the focus when it is a jacket, else the first shown jacket."""
    words = set(normalise(text).split()) - {"the", "that", "this", "one", "it"}
    if not words:
        return None
    candidates = ([state.focus] if state.focus else []) + state.shown
    for pid in candidates:
        if pid not in index:
            continue
        p = index.product(pid)
        kinds = set(normalise(" ".join(filter(None, (p.article_type, p.subcategory)))).split())
        if words & kinds:
            return pid
    return None
