"""The analyst area, served apart from the shop behind a sign-in (``ui.server``): review a
recommendation (heat-map, word weights, explanation, this match's deletion curve, the agent's
trace), rate it, read and export the ratings and the shoppers' thumbs, and the charts. Every text
from the catalogue, shoppers or the LLM is shown as text."""
from __future__ import annotations

import random
from collections.abc import Callable

import gradio as gr

from explain.ratings import Rating

from . import charts
from .escape import visible
from .resources import ANY, Resources
from .views import heatmap_image, weighted_words, why_markdown

HEAVY = "explanations"          # concurrency group of the sampling and the charts
RATING_COLUMNS = ["id", "created", "analyst", "query", "product", "source", "clarity", "trust",
                  "flagged", "comment"]
FEEDBACK_COLUMNS = ["id", "created", "thumb", "source", "intent", "answer"]
SOURCES = [ANY, "llm", "template"]
RATED = [ANY, "2+", "3+", "4+", "5"]
FLAGS = [ANY, "flagged", "not flagged"]


def make_sample(res: Resources) -> Callable[..., tuple]:
    def sample(asked: str):
        """A recommendation to review: the first result of ``asked``, else of a random
        catalogue title searched as a query."""
        agent = res.agent()
        text = (asked or "").strip()
        if not text:
            text = res.searcher.index.product(random.choice(res.searcher.index.all_ids())).title
        agent.turn(text)
        if not agent.state.shown:
            raise gr.Error("Nothing in the catalogue matches that query: try another.")
        card = agent.explained(agent.state.shown[0])
        query = agent.state.query_for(card.id)
        trace = agent.last_trace.to_json() if agent.last_trace else {}
        faith = charts.match_deletions(res.explainer, query, card)
        return (query.text or query.product_id or "photo", card.image, heatmap_image(card),
                weighted_words(card), why_markdown(card), trace, faith, card.to_json())
    return sample


def make_rate(res: Resources) -> Callable[..., tuple]:
    def save_rating(card_json, query, clarity, trust, flagged, comment, source, rated, flag,
                    request: gr.Request):
        if not card_json:
            return "Sample a recommendation first.", gr.update()
        rating = Rating(query=query or "", product_id=card_json["id"],
                        explanation=card_json["explanation"],
                        explanation_source=card_json["explanation_source"], clarity=int(clarity),
                        trust=int(trust), flagged=bool(flagged), comment=comment or "",
                        analyst=request.username or "")
        rid = res.ratings.add(rating)
        return f"Saved rating #{rid}.", ratings_table(res, source, rated, flag)
    return save_rating


def ratings_table(res: Resources, source: str = ANY, rated: str = ANY, flagged: str = ANY) -> list[list]:
    """The stored ratings, narrowed by explanation source, lowest rating and flag."""
    rows = res.ratings.all(source=None if source == ANY else source,
                           min_rating=None if rated == ANY else int(rated[0]),
                           flagged=None if flagged == ANY else flagged == "flagged")
    return [[r.id, r.created, visible(r.analyst), visible(r.query), r.product_id,
             r.explanation_source, r.clarity, r.trust, "yes" if r.flagged else "",
             visible(r.comment)] for r in rows]


def feedback_table(res: Resources) -> list[list]:
    return [[f.id, f.created, "up" if f.liked else "down", f.explanation_source or "other",
             (f.trace or {}).get("intent", ""), visible(f.message[:120])]
            for f in res.ratings.feedback()]


def build_analyst(res: Resources) -> gr.Blocks:
    """The analyst area's page and its one API endpoint, ``/rate``."""
    with gr.Blocks(title="Fashion assistant: analyst review") as app:
        with gr.Row():
            query = gr.Textbox(label="Query to review (empty: a random catalogue title)",
                               elem_id="review-query", scale=4)
            sample = gr.Button("Review its first result", elem_id="sample", scale=1)
        with gr.Row():
            product_photo = gr.Image(label="Product", height=220)
            review_heat = gr.Image(label="Grad-CAM", height=220)
        with gr.Row():
            review_words = gr.HighlightedText(label="Word weights", show_legend=False)
            review_text = gr.Markdown(elem_id="review-text", latex_delimiters=[])
        with gr.Row():
            faithfulness = gr.Plot(label="Deletion: evidence vs random regions")
            trace = gr.JSON(label="Agent trace")
        review_card = gr.JSON(visible=False)
        with gr.Row():
            clarity = gr.Slider(1, 5, value=3, step=1, label="Clarity", elem_id="clarity")
            trust = gr.Slider(1, 5, value=3, step=1, label="Trust", elem_id="trust")
            flagged = gr.Checkbox(label="The explanation is wrong", elem_id="flag")
        with gr.Row():
            comment = gr.Textbox(label="Comment", scale=3, elem_id="comment")
            save = gr.Button("Save rating", variant="primary", elem_id="save-rating")
        status = gr.Markdown(elem_id="rating-status")
        refresh = gr.Button("Refresh the reviews", size="sm", elem_id="refresh-reviews")
        with gr.Row():
            by_source = gr.Dropdown(SOURCES, value=ANY, label="Explanation source",
                                    elem_id="by-source")
            by_rating = gr.Dropdown(RATED, value=ANY, label="Clarity and trust",
                                    elem_id="by-rating")
            by_flag = gr.Dropdown(FLAGS, value=ANY, label="Flagged", elem_id="by-flag")
        shown = [by_source, by_rating, by_flag]
        table = gr.Dataframe(headers=RATING_COLUMNS, label="Ratings", interactive=False,
                             elem_id="ratings")
        export = gr.Button("Export CSV", elem_id="export")
        exported = gr.File(label="ratings.csv", elem_id="exported")
        summary = gr.Plot(label="Ratings and shoppers' thumbs per explanation source",
                          elem_id="ratings-summary")
        thumbs = gr.Dataframe(headers=FEEDBACK_COLUMNS, label="Shoppers' thumbs up/down",
                              interactive=False, elem_id="feedback")
        with gr.Accordion("Charts", open=False):
            draw = gr.Button("Draw charts")
            with gr.Row():
                cluster_map = gr.Plot(label="Catalogue clusters", elem_id="chart-clusters")
                curves = gr.Plot(label="Deletion curves (benchmark)", elem_id="chart-curves")
            with gr.Row():
                colours = gr.Plot(label="Colour frequency per season", elem_id="chart-colours")
                genders = gr.Plot(label="Article types by gender", elem_id="chart-genders")

        review = [query, product_photo, review_heat, review_words, review_text, trace,
                  faithfulness, review_card]
        for trigger in (sample.click, query.submit):
            trigger(make_sample(res), query, review, api_visibility="private",
                    concurrency_id=HEAVY, concurrency_limit=1)
        save.click(make_rate(res), [review_card, query, clarity, trust, flagged, comment, *shown],
                   [status, table], api_visibility="private")
        for control in shown:
            control.input(lambda *f: ratings_table(res, *f), shown, table, api_visibility="private")
        export.click(lambda: str(res.ratings.export_csv(res.ratings.path.with_suffix(".csv"))),
                     None, exported, api_visibility="private")
        draw.click(lambda: (charts.cluster_map(res.searcher), charts.deletion_curves(
            res.results_dir), charts.colour_by_season(res.searcher),
            charts.type_by_gender(res.searcher)), None,
            [cluster_map, curves, colours, genders], api_visibility="private", concurrency_id=HEAVY)

        def reviews(*shown):
            return (ratings_table(res, *shown), charts.ratings_summary(res.ratings.summary()),
                    feedback_table(res))

        for trigger in (app.load, refresh.click):
            trigger(reviews, shown, [table, summary, thumbs], api_visibility="private")
        save.click(lambda: (charts.ratings_summary(res.ratings.summary()), feedback_table(res)),
                   None, [summary, thumbs], api_visibility="private")

        def rate(product_id: str, query: str, explanation: str, explanation_source: str,
                 clarity: int, trust: int, flagged: bool = False, comment: str = "",
                 request: gr.Request = None) -> int:
            """Store the signed-in analyst's rating of an explanation (clarity and trust 1-5);
            returns its id. The product must be in the index; every text is stored as given."""
            if product_id not in res.searcher.index:
                raise gr.Error(f"product {str(product_id)[:40]!r} is not in this index")
            try:
                return res.ratings.add(Rating(query=query, product_id=product_id, explanation=explanation,
                                              explanation_source=explanation_source, clarity=int(clarity),
                                              trust=int(trust), flagged=bool(flagged), comment=comment,
                                              analyst=(request.username if request else "") or ""))
            except (TypeError, ValueError) as exc:
                raise gr.Error(str(exc)) from None

        gr.api(rate, api_name="rate", api_visibility="undocumented")      # not an MCP tool
    return app
