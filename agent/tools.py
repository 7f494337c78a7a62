"""The agent's tools: a JSON schema each (what a planner may call) and the code that runs them over
the retrieval and explain layers.

A tool runs against a ``ToolContext`` (the conversation's state, the searcher and the card maker),
never against the agent itself. A product argument is a product id or a reference to one on
screen ("this", "the second one", "that jacket"); the agent checks and resolves every reference
once, before the tool runs, so a tool receives product ids (or ``PHOTO``, the shopper's uploaded
photo). A tool whose products form a listing returns it (the call and the query it ran), so it can
be run again under new filters or exclusions and its products explained against that query.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from jsonschema import Draft202012Validator

from explain.evidence import Query
from retrieval import MATERIALS, Filters, LookItem, Searcher, SearchResult, change_text, in_words, normalise

from .calls import Card, Listing, ToolResult
from .cards import CardMaker
from .state import PHOTO, Conversation

# A product id, a product on screen ("this", "#2", "the second one", "that jacket") or "photo";
# the planner's system prompt says so once rather than in every schema.
PRODUCT = {"type": "string", "maxLength": 60}
FILTER_VALUES = ("gender", "colour", "article_type")      # checked against the catalogue
SURE = 0.5          # a photo's kind named with less probability is offered as a guess
# Which filters give way first when nothing passes them all: price, then colour, then who it is
# for; the kind of product last.
RELAX_ORDER = (("price_min", "price_max"), ("colour",), ("gender",), ("article_type",))


class ToolContext(Protocol):
    """What a tool may ask of the conversation it runs in."""

    searcher: Searcher
    state: Conversation
    cards: CardMaker
    k: int                              # products per answer


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict
    run: Callable[[ToolContext, dict], ToolResult]
    product_args: tuple[str, ...] = ()      # arguments holding one product reference each
    lists: bool = True                      # its products replace the ones on screen

    def errors(self, args: dict) -> list[str]:
        """What is wrong with ``args`` against the schema (empty when valid)."""
        return [f"{'/'.join(map(str, e.path)) or 'arguments'}: {e.message}"
                for e in Draft202012Validator(self.parameters).iter_errors(args)]


def obj(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


def filter_properties() -> dict:
    """Search filters; several values of one field mean any of them. Values are checked against
    the catalogue when a call is checked (an enum of every article type would not fit a small
    model's context)."""
    text = {"type": "string", "maxLength": 40}
    values = {"anyOf": [text, {"type": "array", "items": text, "minItems": 1, "maxItems": 4}]}
    return {"gender": values, "colour": values, "article_type": values,
            "price_max": {"type": "number", "minimum": 0}, "price_min": {"type": "number", "minimum": 0}}


# -- implementations ------------------------------------------------------------------------
def _cards(ctx: ToolContext, results: list[SearchResult], query: Query,
           looks: list[LookItem] | None = None, source: str | None = None) -> list[Card]:
    shown = [r.product for r in results]
    return [ctx.cards.card(r, query, look, source, others=shown)
            for r, look in zip(results, looks or [None] * len(results))]


def _title(ctx: ToolContext, product_id: str) -> str:
    return ctx.searcher.index.product(product_id).title or product_id


def _shown_card(ctx: ToolContext, product_id: str) -> Card:
    """A product's card as listed: scored and explained against the listing it came from."""
    p = ctx.searcher.index.product(product_id)
    return ctx.cards.card(SearchResult(p.id, ctx.state.scores.get(p.id), p.title, p),
                          ctx.state.query_for(p.id))


def search(ctx: ToolContext, args: dict) -> ToolResult:
    state = ctx.state
    text = (args.get("text") or "").strip()
    kind = args.get("article_type")
    if text and kind and kind != state.filters.get("article_type"):
        state.filters.clear()       # a new kind of product: a new need ("wallets" after "backpacks")
    elif text:                      # a new description: its own type and colour, not the last one's
        state.filters.pop("article_type", None)
        state.filters.pop("colour", None)
    state.filters.update({f: args[f] for f in filter_properties() if f in args})
    if not text and not args.get("photo"):
        text = " ".join(str(args[f]) for f in ("gender", "colour", "article_type") if f in args)
    return run_search(ctx, {"text": text, "photo": bool(args.get("photo"))})


def run_search(ctx: ToolContext, args: dict) -> ToolResult:
    """Search ``args["text"]`` and/or the photo under the active filters and exclusions. When
    nothing passes them all, the least important filter is relaxed (``RELAX_ORDER``), and the
    answer says so."""
    state, searcher = ctx.state, ctx.searcher
    text, photo = args["text"], args["photo"]
    if photo and state.photo is None:
        return ToolResult("Upload a photo first, then I can find products like it.")
    if not photo and not text:
        return ToolResult("What are you looking for? For example \"navy shirts for men\".")

    named = {}       # the kind a photo was taken to show (its products come first)

    def run(filters: Filters) -> list[SearchResult]:
        if photo and text:
            return searcher.composed(text, image=state.photo, k=ctx.k, filters=filters,
                                     exclude=state.excluded).results
        if photo:
            found = searcher.image(state.photo, ctx.k, filters, state.excluded)
            named["kind"], named["sure"] = found.kind, found.confidence >= SURE
            return found.results
        return searcher.text(text, ctx.k, filters, state.excluded)

    if photo:
        query = Query("composed", text, image_path=state.photo, filters=dict(state.filters)) \
            if text else Query("image", image_path=state.photo, filters=dict(state.filters))
    else:
        query = Query("text", text, filters=dict(state.filters))
    listing = Listing("search", args, query)
    what = f"\"{text}\"" if text else "your photo"
    results, dropped = run(state.search_filters()), []
    for names in RELAX_ORDER:
        if results:
            break
        if any(n in state.filters for n in names):
            dropped += [n for n in names if n in state.filters]
            results = run(state.search_filters(without=dropped))
    if not results:
        active = state.describe_filters()
        return ToolResult(f"Nothing matches {what}" + (f" with {active}" if active else "") +
                          ". Try fewer filters (say \"reset\" to clear them).", listing=listing)
    state.focus = None
    if dropped:
        unmet = state.describe_filters(only=dropped)
        kept = state.describe_filters(without=dropped)
        message = (f"Nothing matches {what} with {unmet}; without it, here {count(results)}" +
                   (f" ({kept})." if kept else "."))
        return ToolResult(message, _cards(ctx, results, query), {"relaxed": dropped}, listing)
    active = state.describe_filters()
    guess = "looks like {} to me" if named.get("sure") else "may be {}"
    kind = (f" It {guess.format(named['kind'])}, so those come first." if named.get("kind")
            else "")
    return ToolResult(f"Here {count(results)} for {what}" +
                      (f" ({active})." if active else ".") + kind, _cards(ctx, results, query),
                      {"kind": named["kind"]} if named.get("kind") else {}, listing=listing)


def count(results: list) -> str:
    """ "are 6 products", "is 1 product"."""
    return "is 1 product" if len(results) == 1 else f"are {len(results)} products"


def filter_results(ctx: ToolContext, args: dict) -> ToolResult:
    state = ctx.state
    state.filters.update(args)
    last = state.last_search
    if last is None:
        return search(ctx, {})
    if last.tool == "refine" and {"colour", "gender"} & set(args):
        # "how about in white?" after "like this but in red": the change itself changes
        mod = ctx.searcher.vocabulary.parse(last.args["modifier"])
        values = {**mod.values, **{f: v if isinstance(v, str) else tuple(v)
                                   for f, v in args.items() if f in ("colour", "gender")}}
        return refine(ctx, {**last.args, "modifier": change_text(values) or last.args["modifier"]})
    return rerun(ctx)


def rerun(ctx: ToolContext) -> ToolResult:
    """The last listing again, under the current filters and exclusions."""
    last = ctx.state.last_search
    run = run_search if last.tool == "search" else TOOLS[last.tool].run
    return run(ctx, dict(last.args))


def similar_to(ctx: ToolContext, args: dict) -> ToolResult:
    pid = args["product"]
    if pid == PHOTO:
        return search(ctx, {"photo": True})
    state = ctx.state
    results = ctx.searcher.item(pid, ctx.k, state.search_filters(), state.excluded)
    state.look_at(pid)
    query = Query("item", product_id=pid)
    return ToolResult(f"Products like {_title(ctx, pid)}:", _cards(ctx, results, query),
                      listing=Listing("similar_to", {"product": pid}, query))


def refine(ctx: ToolContext, args: dict) -> ToolResult:
    pid, modifier = args["product"], args["modifier"].strip()
    state = ctx.state
    if pid == PHOTO:
        reference, query, title = {"image": state.photo}, Query(
            "composed", modifier, image_path=state.photo, filters=dict(state.filters)), "your photo"
    else:
        reference, query, title = {"item": pid}, Query(
            "composed", modifier, product_id=pid, filters=dict(state.filters)), _title(ctx, pid)
        state.look_at(pid)
    composed = ctx.searcher.composed(modifier, k=ctx.k, filters=state.search_filters(),
                                     exclude=state.excluded, **reference)
    listing = Listing("refine", {"product": pid, "modifier": modifier}, query)
    asked = composed.modifier.describe()
    wanted = f" ({'; '.join(asked)})" if asked else ""
    words = f" {normalise(modifier)} "
    unknown = [] if "fabric" in composed.modifier.values else [w for w in MATERIALS if f" {w} " in words]
    if unknown:                     # a material the catalogue never mentions: no constraint was made
        return ToolResult(f"This catalogue has nothing in {' or '.join(unknown)}, so I can't make "
                          f"{title} in it.", listing=listing)
    if composed.results:
        return ToolResult(f"Like {title}, but {modifier}{wanted}:", _cards(ctx, composed.results, query),
                          {"constraints": asked}, listing)
    kind = composed.filters.article_type if "article_type" not in composed.modifier.values else None
    if kind and composed.modifier.values:            # keep the change, let the kind of product go
        other = ctx.searcher.composed(modifier, k=ctx.k, exclude=state.excluded, keep=("gender",),
                                      filters=state.search_filters(without=["article_type"]), **reference)
        if other.results:
            return ToolResult(f"No {kind} like {title}{wanted}; here are other kinds of product "
                              f"that are:", _cards(ctx, other.results, query),
                              {"constraints": asked, "relaxed": ["article_type"]}, listing)
    return ToolResult(f"Nothing like {title} matches \"{modifier}\"{wanted}.", listing=listing,
                      data={"constraints": asked})


def complete_look(ctx: ToolContext, args: dict) -> ToolResult:
    pid, state, category = args["product"], ctx.state, args.get("category")
    if pid == PHOTO:
        look = ctx.searcher.complete(image=state.photo, k=ctx.k, exclude=state.excluded,
                                     category=category)
        query, title = Query("look", image_path=state.photo), "your photo"
    else:
        look = ctx.searcher.complete(item=pid, k=ctx.k, exclude=state.excluded, category=category)
        query, title = Query("look", product_id=pid), _title(ctx, pid)
        state.look_at(pid)
    listing = Listing("complete_look", dict(args), query)
    asked = in_words(category) if category else ""
    if not look.items:
        return ToolResult(f"I found no {asked or 'products'} that go with {title}.", listing=listing)
    kinds = sorted({i.result.product.article_type for i in look.items if i.result.product.article_type})
    return ToolResult(f"To go with {title}: {', '.join(kinds)}.",
                      _cards(ctx, [i.result for i in look.items], query, look.items, look.source),
                      {"complementarity_from": look.source, **({"category": category} if category else {})},
                      listing)


def recommend_for_user(ctx: ToolContext, args: dict) -> ToolResult:
    state = ctx.state
    history = args.get("history") or state.history
    if not history and ctx.searcher.pick_ranker is None:
        return ToolResult("I don't know your taste yet: open or ask about a few products first, "
                          "then ask again.")
    if not history:                      # a new shopper, on an index built with purchases
        results = ctx.searcher.for_history([], k=ctx.k, filters=state.search_filters(),
                                           exclude=state.excluded)
        query = Query("popular")
        return ToolResult("I don't know your taste yet, so here are the most bought products; "
                          "open a few and ask again for picks of your own:",
                          _cards(ctx, results, query), {"history": [], "most_bought": True},
                          Listing("recommend_for_user", {"history": []}, query))
    results = ctx.searcher.for_history(history, k=ctx.k, filters=state.search_filters(),
                                       exclude=state.excluded)
    query = Query("item", product_id=history[-1])
    return ToolResult(f"Picked for you from the {len(history)} products you looked at:",
                      _cards(ctx, results, query), {"history": history},
                      Listing("recommend_for_user", {"history": history}, query))


def explain(ctx: ToolContext, args: dict) -> ToolResult:
    pid = args["product"]
    ctx.state.look_at(pid)
    card = ctx.cards.explained(pid, ctx.state.query_for(pid), ctx.state.scores.get(pid),
                               ctx.state.shown)
    return ToolResult(card.explanation, [card])


def compare(ctx: ToolContext, args: dict) -> ToolResult:
    ids = list(dict.fromkeys(args["products"]))
    if len(ids) < 2:
        return ToolResult("Which two products should I compare? For example \"compare the first "
                          "and the second\".")
    index = ctx.searcher.index
    products = [index.product(i) for i in ids]
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
    similarity = float(index.vector(ids[0]) @ index.vector(ids[1]))
    parts.append(f"Similarity of the first two: {similarity:.2f}.")
    return ToolResult(" ".join(parts), [_shown_card(ctx, i) for i in ids],
                      {"fields": rows, "differ": differ})


def show_cluster(ctx: ToolContext, args: dict) -> ToolResult:
    pid, state = args["product"], ctx.state
    label, name = ctx.searcher.cluster_of(pid)
    results = ctx.searcher.cluster(label, ctx.k, exclude=[pid, *state.excluded])
    state.look_at(pid)
    query = Query("item", product_id=pid)
    return ToolResult(f"{_title(ctx, pid)} is in the group \"{name}\"; more from it:",
                      _cards(ctx, results, query), {"cluster": {"label": label, "name": name}},
                      Listing("show_cluster", {"product": pid}, query))


def select(ctx: ToolContext, args: dict) -> ToolResult:
    pid = args["product"]
    ctx.state.look_at(pid)
    p = ctx.searcher.index.product(pid)
    details = ", ".join(str(v) for v in (p.article_type, p.colour, p.gender, p.usage) if v)
    price = f", price {p.price:g}" if p.price is not None else ""
    return ToolResult(f"{p.title}: {details}{price}. Ask \"why?\", \"more like this\" or "
                      "\"what goes with it?\".", [_shown_card(ctx, pid)])


def exclude(ctx: ToolContext, args: dict) -> ToolResult:
    pid, state = args["product"], ctx.state
    if pid not in state.excluded:
        state.excluded.append(pid)
    if state.focus == pid:
        state.focus = None
    if state.last_search is None:
        return ToolResult(f"I won't show {_title(ctx, pid)} again.")
    again = rerun(ctx)
    again.message = f"I won't show {_title(ctx, pid)} again. " + again.message
    return again


def reset(ctx: ToolContext, args: dict) -> ToolResult:
    ctx.state.clear()
    return ToolResult("Cleared: no filters, nothing in focus, a fresh start. What are you looking for?")


def _tools() -> dict[str, Tool]:
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
        Tool("complete_look", "Products from other categories that go with a product (an outfit); "
             "'category' keeps one kind ('what shoes go with it?').",
             obj({"product": PRODUCT, "category": filter_properties()["article_type"]}, ("product",)),
             complete_look, ("product",)),
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


TOOLS: dict[str, Tool] = _tools()
LIST_ARGS = ("products", "history")       # arguments holding a list of product references
