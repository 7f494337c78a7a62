"""The agent's tools: a JSON schema each (what a planner may call) and the code that runs them over
the retrieval and explain layers.

A product argument is a product id or a reference to one on screen ("this", "the second one",
"that jacket"); the agent resolves it against the conversation before the tool runs. ``photo``
names the shopper's uploaded photo.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from jsonschema import Draft202012Validator

from explain.evidence import Query
from retrieval.index import SearchResult

if TYPE_CHECKING:
    from .assistant import ShoppingAgent

PHOTO = "photo"
# A product id, a product on screen ("this", "#2", "the second one", "that jacket") or "photo";
# the planner's system prompt says so once rather than in every schema.
PRODUCT = {"type": "string", "maxLength": 60}


@dataclass
class Card:
    """One product in an answer, with why it is there."""
    id: str
    title: str
    image: str | None
    score: float | None             # its ranking score where it was listed (None: never listed)
    price: float | None
    explanation: str = ""
    explanation_source: str = "template"
    evidence: dict = field(default_factory=dict)
    grounding: dict | None = None   # LLM attempts, rejected claims, why the template was used

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "image": self.image,
                "score": None if self.score is None else round(self.score, 4), "price": self.price,
                "explanation": self.explanation, "explanation_source": self.explanation_source,
                "grounding": self.grounding, "evidence": self.evidence}


@dataclass
class ToolResult:
    message: str
    cards: list[Card] = field(default_factory=list)
    data: dict = field(default_factory=dict)     # e.g. a comparison table; goes into the trace


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict
    run: Callable[["ShoppingAgent", dict], ToolResult]
    product_args: tuple[str, ...] = ()      # arguments holding product references
    lists: bool = True                      # its products replace the ones on screen

    def schema(self) -> dict:
        """The OpenAI-style tool description llama.cpp's function calling takes."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

    def errors(self, args: dict) -> list[str]:
        """What is wrong with ``args`` against the schema (empty when valid)."""
        return [f"{'/'.join(map(str, e.path)) or 'arguments'}: {e.message}"
                for e in Draft202012Validator(self.parameters).iter_errors(args)]


def obj(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


def filter_properties() -> dict:
    """Search filters. Values are checked against the catalogue when a call is checked (an enum
    of every article type would not fit a small model's context)."""
    text = {"type": "string", "maxLength": 40}
    return {"gender": text, "colour": text, "article_type": text, "price_max": {"type": "number", "minimum": 0},
            "price_min": {"type": "number", "minimum": 0}}


FILTER_VALUES = ("gender", "colour", "article_type")      # checked against the catalogue


# -- implementations ------------------------------------------------------------------------
def _cards(agent: "ShoppingAgent", results: list[SearchResult], query: Query,
           looks=None, source: str | None = None) -> list[Card]:
    return [agent.card(r, query, look, source)
            for r, look in zip(results, looks or [None] * len(results))]


def search(agent: "ShoppingAgent", args: dict) -> ToolResult:
    state = agent.state
    text = (args.get("text") or "").strip()
    if text:                        # a new description: its own type and colour, not the last one's
        state.filters.pop("article_type", None)
        state.filters.pop("colour", None)
    state.filters.update({f: args[f] for f in filter_properties() if f in args})
    if not text and not args.get("photo"):
        text = " ".join(str(args[f]) for f in ("gender", "colour", "article_type") if f in args)
    return run_search(agent, text, bool(args.get("photo")))


def run_search(agent: "ShoppingAgent", text: str, photo: bool) -> ToolResult:
    """Search ``text`` and/or the photo under the active filters."""
    state = agent.state
    filters = state.search_filters()
    k = agent.k + len(state.excluded)
    if photo:
        if state.photo is None:
            return ToolResult("Upload a photo first, then I can find products like it.")
        if text:
            composed = agent.searcher.composed(text, image=state.photo, k=k, filters=filters)
            results, query = composed.results, Query("composed", text, image_path=state.photo)
        else:
            results = agent.searcher.image(state.photo, k, filters)
            query = Query("image", image_path=state.photo)
    else:
        if not text:
            return ToolResult("What are you looking for? For example \"navy shirts for men\".")
        results, query = agent.searcher.text(text, k, filters), Query("text", text)
    state.last_search = {"tool": "search", "args": {"text": text, "photo": photo}}
    results = [r for r in results if r.id not in state.excluded][:agent.k]
    active = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in state.filters.items())
    what = f"\"{text}\"" if text else "your photo"
    if not results:
        return ToolResult(f"Nothing matches {what}" + (f" with {active}" if active else "") +
                          ". Try fewer filters (say \"reset\" to clear them).")
    state.focus = None
    return ToolResult(f"Here are {len(results)} products for {what}" +
                      (f" ({active})." if active else "."), _cards(agent, results, query))


def filter_results(agent: "ShoppingAgent", args: dict) -> ToolResult:
    state = agent.state
    state.filters.update(args)
    if state.last_search is None:
        return search(agent, {})
    return rerun(agent)


def rerun(agent: "ShoppingAgent") -> ToolResult:
    """The last listing again, under the current filters and exclusions."""
    last = agent.state.last_search
    if last["tool"] == "search":
        return run_search(agent, **last["args"])
    return agent.run_call(last["tool"], dict(last["args"]))


def similar_to(agent: "ShoppingAgent", args: dict) -> ToolResult:
    pid = agent.product_arg(args, "product")
    if pid == PHOTO:
        return search(agent, {"photo": True})
    state = agent.state
    results = agent.searcher.item(pid, agent.k + len(state.excluded), state.search_filters())
    results = [r for r in results if r.id not in state.excluded][:agent.k]
    state.look_at(pid)
    state.last_search = {"tool": "similar_to", "args": {"product": pid}}
    title = agent.title(pid)
    return ToolResult(f"Products like {title}:", _cards(agent, results, Query("item", product_id=pid)))


def refine(agent: "ShoppingAgent", args: dict) -> ToolResult:
    pid = agent.product_arg(args, "product")
    modifier = args["modifier"].strip()
    state = agent.state
    k = agent.k + len(state.excluded)
    if pid == PHOTO:
        composed = agent.searcher.composed(modifier, image=state.photo, k=k,
                                           filters=state.search_filters())
        query, title = Query("composed", modifier, image_path=state.photo), "your photo"
    else:
        composed = agent.searcher.composed(modifier, item=pid, k=k, filters=state.search_filters())
        query, title = Query("composed", modifier, product_id=pid), agent.title(pid)
        state.look_at(pid)
    state.last_search = {"tool": "refine", "args": {"product": pid, "modifier": modifier}}
    results = [r for r in composed.results if r.id not in state.excluded][:agent.k]
    wanted = "; ".join(composed.modifier.describe())
    wanted = f" ({wanted})" if wanted else ""
    if not results:
        return ToolResult(f"Nothing like {title} matches \"{modifier}\"{wanted}.")
    return ToolResult(f"Like {title}, but {modifier}{wanted}:", _cards(agent, results, query),
                      {"constraints": composed.modifier.describe()})


def complete_look(agent: "ShoppingAgent", args: dict) -> ToolResult:
    pid = agent.product_arg(args, "product")
    if pid == PHOTO:
        look = agent.searcher.complete(image=agent.state.photo, k=agent.k)
        query, title = Query("look", image_path=agent.state.photo), "your photo"
    else:
        look = agent.searcher.complete(item=pid, k=agent.k)
        query, title = Query("look", product_id=pid), agent.title(pid)
        agent.state.look_at(pid)
    agent.state.last_search = {"tool": "complete_look", "args": {"product": pid}}
    items = [i for i in look.items if i.result.id not in agent.state.excluded]
    if not items:
        return ToolResult(f"I found nothing that completes {title}.")
    kinds = sorted({i.result.product.article_type for i in items if i.result.product.article_type})
    return ToolResult(f"To go with {title}: {', '.join(kinds)}.",
                      _cards(agent, [i.result for i in items], query, items, look.source),
                      {"complementarity_from": look.source})


def recommend_for_user(agent: "ShoppingAgent", args: dict) -> ToolResult:
    history = [agent.resolve(h) for h in args.get("history") or []] or agent.state.history
    if not history:
        return ToolResult("I don't know your taste yet: open or ask about a few products first, "
                          "then ask again.")
    results = agent.searcher.for_history(history, k=agent.k + len(history),
                                         filters=agent.state.search_filters())
    results = [r for r in results if r.id not in agent.state.excluded and r.id not in history]
    results = results[:agent.k]
    agent.state.last_search = {"tool": "recommend_for_user", "args": {"history": history}}
    return ToolResult(f"Picked for you from the {len(history)} products you looked at:",
                      _cards(agent, results, Query("item", product_id=history[-1])),
                      {"history": history})


def explain(agent: "ShoppingAgent", args: dict) -> ToolResult:
    pid = agent.product_arg(args, "product")
    agent.state.look_at(pid)
    card = agent.explained_card(pid)
    return ToolResult(card.explanation, [card])


def compare(agent: "ShoppingAgent", args: dict) -> ToolResult:
    ids = list(dict.fromkeys(agent.resolve(p) for p in args["products"]))
    if len(ids) < 2:
        return ToolResult("Which two products should I compare? For example \"compare the first "
                          "and the second\".")
    products = [agent.searcher.index.product(i) for i in ids]
    fields = ("article_type", "colour", "gender", "usage", "season", "brand", "price")
    rows = {f: [getattr(p, f) for p in products] for f in fields
            if any(getattr(p, f) is not None for p in products)}
    differ = [f for f, vals in rows.items() if len(set(vals)) > 1]
    same = [f for f, vals in rows.items() if len(set(vals)) == 1]
    parts = []
    if same:
        parts.append("Both: " + ", ".join(f"{f.replace('_', ' ')} {rows[f][0]}" for f in same) + ".")
    for f in differ:
        parts.append(f"{f.replace('_', ' ').capitalize()}: " +
                     " vs ".join(str(v) if v is not None else "unknown" for v in rows[f]) + ".")
    index = agent.searcher.index
    vecs = [index.vector(i) for i in ids]
    similarity = float(vecs[0] @ vecs[1])
    parts.append(f"Similarity of the first two: {similarity:.2f}.")
    cards = [agent.card(SearchResult(p.id, agent.state.scores.get(p.id), p.title, p),
                        agent.query_for(p.id)) for p in products]
    return ToolResult(" ".join(parts), cards, {"fields": rows, "differ": differ})


def show_cluster(agent: "ShoppingAgent", args: dict) -> ToolResult:
    pid = agent.product_arg(args, "product")
    label, name = agent.searcher.cluster_of(pid)
    results = [r for r in agent.searcher.cluster(label, agent.k + 1 + len(agent.state.excluded))
               if r.id != pid and r.id not in agent.state.excluded][:agent.k]
    agent.state.look_at(pid)
    agent.state.last_search = {"tool": "show_cluster", "args": {"product": pid}}
    return ToolResult(f"{agent.title(pid)} is in the group \"{name}\"; more from it:",
                      _cards(agent, results, Query("item", product_id=pid)),
                      {"cluster": {"label": label, "name": name}})


def select(agent: "ShoppingAgent", args: dict) -> ToolResult:
    pid = agent.product_arg(args, "product")
    agent.state.look_at(pid)
    p = agent.searcher.index.product(pid)
    details = ", ".join(str(v) for v in (p.article_type, p.colour, p.gender, p.usage) if v)
    price = f", price {p.price:g}" if p.price is not None else ""
    card = agent.card(SearchResult(p.id, agent.state.scores.get(pid), p.title, p),
                      agent.query_for(pid))
    return ToolResult(f"{p.title}: {details}{price}. Ask \"why?\", \"more like this\" or "
                      "\"what goes with it?\".", [card])


def exclude(agent: "ShoppingAgent", args: dict) -> ToolResult:
    pid = agent.product_arg(args, "product")
    state = agent.state
    if pid not in state.excluded:
        state.excluded.append(pid)
    if state.focus == pid:
        state.focus = None
    if state.last_search is None:
        return ToolResult(f"I won't show {agent.title(pid)} again.")
    again = rerun(agent)
    return ToolResult(f"I won't show {agent.title(pid)} again. " + again.message, again.cards)


def reset(agent: "ShoppingAgent", args: dict) -> ToolResult:
    agent.reset()
    return ToolResult("Cleared: no filters, nothing in focus, a fresh start. What are you looking for?")


def tools() -> dict[str, Tool]:
    """The tool set, by name."""
    search_props = {"text": {"type": "string", "maxLength": 200}, "photo": {"type": "boolean"},
                    **filter_properties()}
    one = obj({"product": PRODUCT}, ("product",))
    listing = [
        Tool("search", "Find products from a description and/or the uploaded photo, with filters; "
             "filters stay active for later searches.", obj(search_props), search),
        Tool("filter", "Change the active filters and repeat the last search ('only for women', "
             "'under 1500', 'in black').", obj(filter_properties()), filter_results),
        Tool("similar_to", "Products that look like a product.", one, similar_to, ("product",)),
        Tool("refine", "Products like a reference product but changed as the shopper says "
             "('in linen', 'in red', 'cheaper', 'with short sleeves').",
             obj({"product": PRODUCT, "modifier": {"type": "string", "minLength": 1,
                                                   "maxLength": 120}}, ("product", "modifier")),
             refine, ("product",)),
        Tool("complete_look", "Products from other categories that go with a product (an outfit).",
             one, complete_look, ("product",)),
        Tool("recommend_for_user", "Products for the shopper's browsing history (the products "
             "looked at in this chat unless ids are given).",
             obj({"history": {"type": "array", "items": PRODUCT, "maxItems": 50}}),
             recommend_for_user),
        Tool("explain", "Why a product was shown: the evidence and a short explanation.", one,
             explain, ("product",), lists=False),
        Tool("compare", "Compare two to four products attribute by attribute.",
             obj({"products": {"type": "array", "items": PRODUCT, "minItems": 2, "maxItems": 4}},
                 ("products",)), compare, lists=False),
        Tool("show_cluster", "More products from the catalogue group (cluster) of a product.", one,
             show_cluster, ("product",)),
        Tool("select", "Focus on one product and show its details.", one, select, ("product",), lists=False),
        Tool("exclude", "Never show a product again ('not that') and repeat the last search.", one,
             exclude, ("product",)),
        Tool("reset", "Forget filters, focus and exclusions; start over.", obj({}), reset),
    ]
    return {t.name: t for t in listing}

