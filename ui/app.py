"""The Gradio app: a shopping chat and an analyst review tab over one index.

One searcher, explainer and LLM are shared by all sessions; each browser session has its own
``ShoppingAgent`` (conversation state) in a ``gr.State``. Explanations (attributions, LLM) run in
their own concurrency group, so they never hold up other users' searches.
"""
from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import gradio as gr

from agent.assistant import ShoppingAgent
from agent.calls import Card
from explain.evidence import Explainer
from retrieval.search import Searcher
from retrieval.settings import DEFAULT_PLANNER

from . import charts
from .ratings import Rating, RatingStore
from .uploads import UploadError, check_upload
from .views import gallery, heatmap_image, weighted_words, why_markdown

ANY = "Any"
SEARCH_CONCURRENCY = 4          # chat turns and searches served at once
HEAVY = "explanations"          # concurrency group of "why?" and the analyst's sampling


@dataclass
class Resources:
    """What every session shares."""
    searcher: Searcher
    ratings: RatingStore
    planner: str = DEFAULT_PLANNER
    results_dir: Path | None = None          # a `python -m eval` report folder for the charts

    @cached_property
    def explainer(self) -> Explainer:
        return Explainer(self.searcher)

    def agent(self) -> ShoppingAgent:
        return ShoppingAgent(self.searcher, planner=self.planner, explainer=self.explainer)

    @cached_property
    def image_root(self) -> str | None:
        """The folder holding the catalogue's photos (the only product files served)."""
        paths = [p.image_path for p in self.searcher.index.products_where(limit=2000)
                 if p.image_path]
        # Resolved: Gradio resolves symlinks before checking a file against the allowed folders.
        return os.path.realpath(os.path.commonpath(paths)) if paths else None

    def choices(self, field_name: str) -> list[str]:
        return [ANY, *self.searcher.vocabulary.values(field_name)]


# -- shop tab handlers ----------------------------------------------------------------------
def _outputs(agent: ShoppingAgent, history: list[dict], cards: list[Card], why: Card | None) -> tuple:
    f = {k: v for k, v in agent.state.filters.items() if not isinstance(v, list)}  # one value each
    return (history, gallery(cards) if cards else gr.update(), [c.to_json() for c in cards] or gr.update(),
            heatmap_image(why) if why else gr.update(), weighted_words(why) if why else gr.update(),
            why_markdown(why) if why else gr.update(),
            f.get("gender", ANY), f.get("colour", ANY), f.get("article_type", ANY), f.get("price_max"),
            agent)


def make_respond(res: Resources) -> Callable[..., Iterator[tuple]]:
    def respond(text, photo, history, agent):
        """One chat turn, streamed: the reply grows as the explanation is written."""
        agent = agent or res.agent()
        history = list(history or [])
        history.append({"role": "user", "content": text or "(photo)"})
        try:
            photo = check_upload(photo)
        except UploadError as exc:
            history.append({"role": "assistant", "content": str(exc)})
            yield _outputs(agent, history, [], None)
            return
        if not (text or "").strip() and photo is None:
            history.append({"role": "assistant", "content": "Type what you are looking for, or "
                                                            "upload a photo."})
            yield _outputs(agent, history, [], None)
            return
        if photo is not None:
            history.append({"role": "user", "content": gr.Image(photo, height=120)})
        history.append({"role": "assistant", "content": "…"})
        written = ""
        for kind, payload in agent.stream(text or "", photo):
            if kind == "token":
                written += payload
                history[-1] = {"role": "assistant", "content": written}
                yield _outputs(agent, history, [], None)
            elif kind in ("retry", "replace"):
                written = "" if kind == "retry" else payload
            elif kind == "answer":
                history[-1] = {"role": "assistant", "content": payload.message}
                why = payload.cards[0] if payload.trace.intent == "explain" and payload.cards else None
                listed = [] if why else payload.cards
                yield _outputs(agent, history, listed, why)
    return respond


def make_set_filters(res: Resources) -> Callable[..., tuple]:
    def set_filters(gender, colour, article_type, price_max, history, agent):
        agent = agent or res.agent()
        answer = agent.set_filters({"gender": None if gender == ANY else gender,
                                    "colour": None if colour == ANY else colour,
                                    "article_type": None if article_type == ANY else article_type,
                                    "price_max": price_max or None})
        history = list(history or []) + [{"role": "assistant", "content": answer.message}]
        return _outputs(agent, history, answer.cards, None)
    return set_filters


# -- analyst tab handlers -------------------------------------------------------------------
def make_sample(res: Resources) -> Callable[..., tuple]:
    def sample(agent):
        """A recommendation to review: the product in focus of this session, else a random
        catalogue title searched as a query and its first result."""
        agent = agent or res.agent()
        if agent.state.focus is None or agent.state.focus not in agent.state.shown:
            ids = res.searcher.index.all_ids()
            title = res.searcher.index.product(random.choice(ids)).title
            agent.turn(title)
            agent.state.focus = agent.state.shown[0]
        card = agent.explained(agent.state.focus)
        query = agent.state.query_for(card.id)
        trace = agent.last_trace.to_json() if agent.last_trace else {}
        faith = charts.match_deletions(res.explainer, query, card)
        return (query.text or query.product_id or "photo", card.image, heatmap_image(card),
                weighted_words(card), why_markdown(card), trace, faith, card.to_json(), agent)
    return sample


def make_rate(res: Resources) -> Callable[..., tuple]:
    def rate(card_json, query, clarity, trust, flagged, comment, analyst):
        if not card_json:
            return "Sample or pick a recommendation first.", gr.update()
        rating = Rating(query=query or "", product_id=card_json["id"],
                        explanation=card_json["explanation"],
                        explanation_source=card_json["explanation_source"], clarity=int(clarity),
                        trust=int(trust), flagged=bool(flagged), comment=comment or "",
                        analyst=analyst or "")
        rid = res.ratings.add(rating)
        return f"Saved rating #{rid}.", ratings_table(res)
    return rate


def ratings_table(res: Resources) -> list[list]:
    return [[r.id, r.created, r.analyst, r.query, r.product_id, r.clarity, r.trust,
             "yes" if r.flagged else "", r.comment] for r in res.ratings.all()]


RATING_COLUMNS = ["id", "created", "analyst", "query", "product", "clarity", "trust", "flagged",
                  "comment"]


def build_app(res: Resources) -> gr.Blocks:
    with gr.Blocks(title="Fashion assistant") as app:
        agent = gr.State(None)
        with gr.Tab("Shop", id="shop"):
            with gr.Row():
                gender = gr.Dropdown(res.choices("gender"), value=ANY, label="Gender")
                category = gr.Dropdown(res.choices("article_type"), value=ANY, label="Category")
                colour = gr.Dropdown(res.choices("colour"), value=ANY, label="Colour")
                price = gr.Number(None, label="Max price", minimum=0)
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Assistant", height=360)
                    with gr.Row():
                        text = gr.Textbox(placeholder="e.g. navy shirts for men under 1500",
                                          show_label=False, scale=4, elem_id="query")
                        send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                    # A file input, not gr.Image: a non-image must reach our check (and become a
                    # chat message) instead of failing in the component's own decoding.
                    photo = gr.File(label="Search by photo (optional)", file_types=["image"],
                                    type="filepath", height=90, elem_id="photo")
                with gr.Column(scale=4):
                    cards = gr.Gallery(label="Products", columns=3, height=460,
                                       elem_id="products", allow_preview=False)
                    selected = gr.State(None)
                    selected_info = gr.Markdown("Click a product, then a button below.",
                                                elem_id="selected")
                    with gr.Row():
                        more = gr.Button("More like this", elem_id="more")
                        look = gr.Button("Complete the look", elem_id="look")
                        why = gr.Button("Why?", elem_id="why")
            with gr.Accordion("Why this product?", open=True, elem_id="why-panel"):
                with gr.Row():
                    heat = gr.Image(label="Regions that drove the match (Grad-CAM)", height=260)
                    with gr.Column():
                        words = gr.HighlightedText(label="Words that drove the match",
                                                   color_map=None, show_legend=False)
                        why_text = gr.Markdown(elem_id="why-text")
            card_data = gr.JSON(visible=False)

            respond = make_respond(res)
            outs = [chat, cards, card_data, heat, words, why_text, gender, colour, category,
                    price, agent]
            ins = [text, photo, chat, agent]
            for trigger in (send.click, text.submit):
                trigger(respond, ins, outs, api_name="chat" if trigger == send.click else False,
                        concurrency_id="chat", concurrency_limit=SEARCH_CONCURRENCY).then(
                    lambda: ("", None), None, [text, photo], api_name=False)
            filters_in = [gender, colour, category, price, chat, agent]
            for control in (gender, colour, category):
                control.input(make_set_filters(res), filters_in, outs, api_name=False,
                              concurrency_id="chat")
            price.submit(make_set_filters(res), filters_in, outs, api_name=False,
                         concurrency_id="chat")
            cards.select(select_card, card_data, [selected, selected_info], api_name=False,
                         queue=False)

            def canned(template):
                def send_canned(index, history, agent):
                    if index is None:
                        yield from respond("", None, history, agent)
                        return
                    yield from respond(template.format(n=int(index) + 1), None, history, agent)
                return send_canned

            for button, template, group in ((more, "more like #{n}", "chat"),
                                            (look, "what goes with #{n}?", "chat"),
                                            (why, "why #{n}?", HEAVY)):
                button.click(canned(template), [selected, chat, agent], outs, api_name=False,
                             concurrency_id=group, concurrency_limit=1 if group == HEAVY else
                             SEARCH_CONCURRENCY)

        with gr.Tab("Analyst review", id="analyst"):
            with gr.Row():
                sample = gr.Button("Review the product in focus (or a random one)",
                                   elem_id="sample")
            with gr.Row():
                query = gr.Textbox(label="Query", interactive=False, elem_id="review-query")
                product_photo = gr.Image(label="Product", height=220)
                review_heat = gr.Image(label="Grad-CAM", height=220)
            with gr.Row():
                review_words = gr.HighlightedText(label="Word weights", show_legend=False)
                review_text = gr.Markdown(elem_id="review-text")
            with gr.Row():
                faithfulness = gr.Plot(label="Deletion: evidence vs random regions")
                trace = gr.JSON(label="Agent trace")
            review_card = gr.JSON(visible=False)
            with gr.Row():
                clarity = gr.Slider(1, 5, value=3, step=1, label="Clarity", elem_id="clarity")
                trust = gr.Slider(1, 5, value=3, step=1, label="Trust", elem_id="trust")
                flagged = gr.Checkbox(label="The explanation is wrong", elem_id="flag")
            with gr.Row():
                analyst = gr.Textbox(label="Analyst", scale=1)
                comment = gr.Textbox(label="Comment", scale=3, elem_id="comment")
                save = gr.Button("Save rating", variant="primary", elem_id="save-rating")
            status = gr.Markdown(elem_id="rating-status")
            table = gr.Dataframe(ratings_table(res), headers=RATING_COLUMNS, label="Ratings",
                                 interactive=False, elem_id="ratings")
            export = gr.Button("Export CSV")
            exported = gr.File(label="ratings.csv")
            sample.click(make_sample(res), agent,
                         [query, product_photo, review_heat, review_words, review_text, trace,
                          faithfulness, review_card, agent], api_name=False,
                         concurrency_id=HEAVY, concurrency_limit=1)
            save.click(make_rate(res), [review_card, query, clarity, trust, flagged, comment,
                                        analyst], [status, table], api_name=False)
            export.click(lambda: str(res.ratings.export_csv(res.ratings.path.with_suffix(".csv"))),
                         None, exported, api_name=False)
            with gr.Accordion("Charts", open=False):
                draw = gr.Button("Draw charts")
                with gr.Row():
                    cluster_map = gr.Plot(label="Catalogue clusters")
                    curves = gr.Plot(label="Deletion curves (benchmark)")
                with gr.Row():
                    colours = gr.Plot(label="Colour frequency per season")
                    genders = gr.Plot(label="Article types by gender")
                draw.click(lambda: (charts.cluster_map(res.searcher), charts.deletion_curves(
                    res.results_dir), charts.colour_by_season(res.searcher),
                    charts.type_by_gender(res.searcher)), None,
                    [cluster_map, curves, colours, genders], api_name=False,
                    concurrency_id=HEAVY)

        def search(text: str, k: int = 6) -> list[dict]:
            """Products for a text query: id, title, score, price, image path."""
            return [{**r.to_json(), "price": r.product.price, "image": r.product.image_path}
                    for r in res.searcher.text(text, int(k))]

        def rate(product_id: str, query: str, explanation: str, explanation_source: str,
                 clarity: int, trust: int, flagged: bool = False, comment: str = "",
                 analyst: str = "") -> int:
            """Store an analyst's rating of an explanation (clarity and trust 1-5); returns its
            id. The product must be in the index; every text is stored as given (data)."""
            if product_id not in res.searcher.index:
                raise gr.Error(f"product {product_id!r} is not in this index")
            try:
                return res.ratings.add(Rating(query=query, product_id=product_id, explanation=explanation,
                                              explanation_source=explanation_source, clarity=int(clarity),
                                              trust=int(trust), flagged=bool(flagged), comment=comment,
                                              analyst=analyst))
            except (TypeError, ValueError) as exc:
                raise gr.Error(str(exc)) from None

        gr.api(search, api_name="search", concurrency_id="chat")
        gr.api(rate, api_name="rate")
    return app


def select_card(cards: list[dict] | None, evt: gr.SelectData) -> tuple[int, str]:
    title = cards[evt.index]["title"] if cards and evt.index < len(cards) else "?"
    return evt.index, f"Selected: #{evt.index + 1} {title}"

