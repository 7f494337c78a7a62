"""The shop's page: a streaming chat with its products, the filters and need chips, the detail
view and the "why?" panel, over one index; no analyst data (``ui.analyst`` is served apart).

One searcher, explainer and LLM are shared by all sessions; each shopper's conversation lives on
the server (``Sessions``) under a token kept in the browser's local storage, so it survives a page
reload. Explanations (heat-maps, attributions, the LLM) are worked out one at a time on a
background thread at a lower CPU priority (``runtime.background``); a turn waiting for one holds
no CPU, so chat turns and searches have no queue limit of their own (Gradio's worker threads bound
them) and never wait behind explanations. A shopper can stop an explanation while it is written.
Every text from the catalogue, shoppers or the LLM is shown as text (``ui.escape``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import gradio as gr

from agent import suggestions
from agent.calls import Answer, Card
from explain.ratings import Feedback

from . import api
from .escape import md
from .resources import ANY, Resources
from .sessions import Session
from .uploads import UploadError, check_upload
from .views import gallery, heatmap_image, need_chips, product_markdown, weighted_words, why_markdown

HEAVY = "explanations"          # concurrency group of "why?"
SESSION_KEY = "fashion-assistant-session"       # the browser's local storage key of the token
STREAM_EVERY = 0.1     # s between updates of a reply being written (each is a whole answer's outputs)
log = logging.getLogger(__name__)
CSS = """
#busy {align-items: center}
#detail-text {padding: 8px}
@media (max-width: 640px) { #products .grid-container {grid-template-columns: repeat(2, 1fr)} }
"""


# -- handlers -------------------------------------------------------------------------------
def _outputs(session: Session, shown: dict | None = None, cards: list[Card] | None = None,
             why: Card | None = None, busy: str = "") -> tuple:
    """Every output of a turn: the chat, the products, the "why?" panel, the need (controls and
    chips), the session token, the busy line with its stop button, and what the page now shows.

    ``shown`` is what the page shows already (None: nothing known, e.g. a reload), updated in place
    and returned as the last output (the page's ``gr.State``). Gradio builds a
    whole new component for every ``gr.update`` and even for ``gr.skip()``, so a turn sends plain
    values where it can: component properties (the chips' choices, what is visible) only when
    they change."""
    shown = {} if shown is None else shown
    filters = session.agent.state.filters
    f = {k: v for k, v in filters.items() if not isinstance(v, list)}  # one value each
    chips = list(need_chips(filters).values())
    now = {"need": chips, "busy": bool(busy)}
    panel = (heatmap_image(why), weighted_words(why), why_markdown(why)) if why else \
        (gr.skip(),) * 3
    need = chips if shown.get("need") == chips else \
        gr.update(choices=chips, value=chips, visible=bool(chips))
    busy_line, stop = (busy, "Stop") if shown.get("busy") == now["busy"] else \
        (gr.update(value=busy, visible=now["busy"]), gr.update(visible=now["busy"]))
    shown.update(now)
    return (session.history, gallery(cards) if cards else gr.skip(),
            [api.product_json(c) for c in cards] if cards else gr.skip(),   # small: Gradio
            # walks every output of every update looking for files
            *panel, f.get("gender", ANY), f.get("colour", ANY), f.get("article_type", ANY),
            f.get("price_max"), need, session.token, busy_line, stop, shown)


def _answered(res: Resources, session: Session, answer: Answer, slot: int, prefix: str = "") -> None:
    """Put ``answer`` in the chat at message ``slot`` (after ``prefix``) with its follow-up chips,
    and keep its trace."""
    for message in session.history:                  # chips only under the newest answer
        message.pop("options", None)
    chips = suggestions(answer, session.agent.state, res.searcher.index)
    session.history[slot] = {"role": "assistant", "content": md(prefix + answer.message),
                             "options": [{"value": c, "label": c} for c in chips]}
    explained = answer.cards[0].explanation_source if answer.trace.intent == "explain" and \
        answer.cards else ""
    session.traces[slot] = {"trace": answer.trace.to_json(), "source": explained,
                            "message": prefix + answer.message}


def _shown(res: Resources, session: Session, shown: dict | None, answer: Answer,
           prefix: str = "") -> tuple:
    """The outputs of an answer made at once (not streamed): appended to the chat, its products
    listed."""
    _answered(res, session, answer, _placeholder(session), prefix)
    if answer.cards:
        session.cards = answer.cards
    return _outputs(session, shown, answer.cards)


def _placeholder(session: Session) -> int:
    """Append the answer's place in the chat; returns its index (another turn of the same
    session may append after it while this one is worked on)."""
    session.history.append({"role": "assistant", "content": "…"})
    return len(session.history) - 1


def make_respond(res: Resources) -> Callable[..., Iterator[tuple]]:
    def respond(text, photo, token, shown=None):
        """One chat turn, streamed: the reply grows as the explanation is written."""
        session = res.sessions.get(token)
        history = session.history
        for message in history:
            message.pop("options", None)
        history.append({"role": "user", "content": md(text) if text else "(photo)"})
        try:
            photo = check_upload(photo)
        except UploadError as exc:
            history.append({"role": "assistant", "content": md(exc)})
            yield _outputs(session, shown)
            return
        if not (text or "").strip() and photo is None:
            history.append({"role": "assistant", "content": "Type what you are looking for, or "
                                                            "upload a photo."})
            yield _outputs(session, shown)
            return
        if photo is not None:
            history.append({"role": "user", "content": gr.Image(photo, height=120)})
        slot = _placeholder(session)
        try:
            yield from _stream(res, session, shown, slot, text or "", photo)
        except Exception as exc:     # a bug: said in the chat (and logged), never a stuck page
            log.exception("chat turn failed")
            history[slot] = {"role": "assistant", "content": f"Sorry, something went wrong "
                                                             f"({type(exc).__name__}); please try again."}
            yield _outputs(session, shown)
    return respond


def _stream(res: Resources, session: Session, shown: dict | None, slot: int, text: str,
            photo) -> Iterator[tuple]:
    """The outputs of one turn as the agent's events arrive, the answer at message ``slot``
    (``shown``: what the page shows). The reply being written is shown as its first token comes,
    then at most every ``STREAM_EVERY`` seconds: Gradio post-processes every output of every
    update, which is CPU the model and other shoppers would otherwise have."""
    history, written, sent = session.history, "", None
    for kind, payload in session.agent.stream(text, photo):
        if kind == "token":
            written += payload
            if sent is None or time.perf_counter() - sent >= STREAM_EVERY:
                history[slot] = {"role": "assistant", "content": md(written)}
                yield _outputs(session, shown, busy="Writing the explanation…")
                sent = time.perf_counter()
        elif kind in ("retry", "replace"):
            written = "" if kind == "retry" else payload
        elif kind == "stopped":
            history[slot] = {"role": "assistant",
                             "content": md(f"{written.strip()} … (stopped)".strip())}
            yield _outputs(session, shown)
        elif kind == "answer":
            _answered(res, session, payload, slot)
            why = payload.cards[0] if payload.trace.intent == "explain" and payload.cards else None
            listed = [] if why else payload.cards
            if listed:
                session.cards = listed
            yield _outputs(session, shown, listed, why)


def make_set_filters(res: Resources) -> Callable[..., tuple]:
    def set_filters(gender, colour, article_type, price_max, token, shown):
        session = res.sessions.get(token)
        answer = session.agent.set_filters({"gender": None if gender == ANY else gender,
                                            "colour": None if colour == ANY else colour,
                                            "article_type": None if article_type == ANY else article_type,
                                            "price_max": price_max or None})
        return _shown(res, session, shown, answer)
    return set_filters


def make_drop_need(res: Resources) -> Callable[..., tuple]:
    def drop_need(kept, token, shown):
        """A need chip was removed: list again without that filter."""
        session = res.sessions.get(token)
        filters = session.agent.state.filters
        labels = need_chips(filters)
        dropped = [label for label in labels.values() if label not in (kept or [])]
        answer = session.agent.set_filters({k: v for k, v in filters.items()
                                            if labels[k] not in dropped})
        return _shown(res, session, shown, answer, f"Without {', '.join(dropped)}. " if dropped else "")
    return drop_need


def make_restore(res: Resources) -> Callable[..., tuple]:
    def restore(token):
        """The page (re)loaded: show the conversation of the browser's token, if the server has it."""
        session = res.sessions.get(token)
        return _outputs(session, None, session.cards)
    return restore


def make_new_chat(res: Resources) -> Callable[..., tuple]:
    def new_chat():
        """A new conversation: nothing on screen, no need, a new token."""
        chat, *_, gender, colour, category, price, need, token, busy, stop, shown = \
            _outputs(res.sessions.new())
        return (chat, [], [], None, [], "", gender, colour, category, price, need, token, busy, stop,
                shown)
    return new_chat


def make_stop(res: Resources) -> Callable[[str | None], None]:
    def stop(token):
        session = res.sessions.find(token)
        if session is not None:
            session.agent.stop()
    return stop


def make_feedback(res: Resources) -> Callable[..., None]:
    def feedback(token, evt: gr.LikeData):
        """A thumbs up or down on an answer, stored with that turn's trace."""
        session = res.sessions.find(token)
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        if session is None or not isinstance(evt.liked, bool):
            return
        kept = session.traces.get(index, {})
        res.ratings.add_feedback(Feedback(session.token, index, evt.liked,
                                          kept.get("message", ""),
                                          kept.get("source", ""), kept.get("trace")))
    return feedback


def make_select(res: Resources) -> Callable[..., tuple]:
    def select_card(cards: list[dict] | None, evt: gr.SelectData):
        """A product was clicked: select it for the buttons and show its details."""
        if not cards or evt.index >= len(cards):
            return None, "Click a product, then a button below.", gr.update(visible=False), None, ""
        card = cards[evt.index]
        product = res.searcher.index.product(card["id"])
        return (evt.index, f"Selected: #{evt.index + 1} {md(card['title'])}", gr.update(visible=True),
                product.image_path, product_markdown(product))
    return select_card


def build_shop(res: Resources) -> gr.Blocks:
    """The shop's page and the tools' API (``ui.api``)."""
    with gr.Blocks(title="Fashion assistant") as app:
        token = gr.BrowserState(None, storage_key=SESSION_KEY)
        with gr.Accordion("Filters", open=False, elem_id="filters"), gr.Row():
            gender = gr.Dropdown(res.choices("gender"), value=ANY, label="Gender", min_width=150)
            category = gr.Dropdown(res.choices("article_type"), value=ANY, label="Category",
                                   min_width=150)
            colour = gr.Dropdown(res.choices("colour"), value=ANY, label="Colour", min_width=150)
            price = gr.Number(None, label="Max price", minimum=0, min_width=150)
        need = gr.Dropdown([], value=[], multiselect=True, label="Your need (remove one to drop it)",
                           elem_id="need", visible=False, allow_custom_value=False)
        with gr.Row():
            with gr.Column(scale=3, min_width=300):
                chat = gr.Chatbot(label="Assistant", height=360, elem_id="chat",
                                  feedback_options=("Like", "Dislike"),
                                  buttons=["copy", "copy_all"], latex_delimiters=[])
                with gr.Row(elem_id="busy"):
                    busy = gr.Markdown(visible=False, elem_id="busy-text", latex_delimiters=[])
                    stop = gr.Button("Stop", variant="stop", size="sm", visible=False,
                                     elem_id="stop", min_width=80)
                with gr.Row():
                    text = gr.Textbox(placeholder="e.g. navy shirts for men under 1500",
                                      show_label=False, scale=4, elem_id="query", min_width=160)
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send",
                                     min_width=70)
                # A file input, not gr.Image: a non-image must reach our check (and become a
                # chat message) instead of failing in the component's own decoding.
                photo = gr.File(label="Search by photo (optional)", file_types=["image"],
                                type="filepath", height=90, elem_id="photo")
                new_chat = gr.Button("New chat", size="sm", elem_id="new-chat")
            with gr.Column(scale=4, min_width=300):
                cards = gr.Gallery(label="Products", columns=3, height=460,
                                   elem_id="products", allow_preview=False)
                selected = gr.State(None)
                selected_info = gr.Markdown("Click a product, then a button below.", latex_delimiters=[],
                                            elem_id="selected")
                with gr.Row():
                    more = gr.Button("More like this", elem_id="more", min_width=90)
                    look = gr.Button("Complete the look", elem_id="look", min_width=90)
                    why = gr.Button("Why?", elem_id="why", min_width=90)
                with gr.Group(visible=False, elem_id="detail") as detail:
                    with gr.Row():
                        detail_photo = gr.Image(label="Product", height=260, min_width=160,
                                                show_label=False)
                        detail_text = gr.Markdown(elem_id="detail-text", min_height=100,
                                                  latex_delimiters=[])
        with gr.Accordion("Why this product?", open=True, elem_id="why-panel"):
            with gr.Row():
                heat = gr.Image(label="Regions that drove the match (Grad-CAM)", height=260,
                                min_width=200)
                with gr.Column(min_width=200):
                    words = gr.HighlightedText(label="Words that drove the match",
                                               color_map=None, show_legend=False)
                    why_text = gr.Markdown(elem_id="why-text", latex_delimiters=[])
        card_data = gr.JSON(visible=False)
        shown = gr.State(None)                 # what this page shows (see _outputs)

        respond = make_respond(res)
        outs = [chat, cards, card_data, heat, words, why_text, gender, colour, category,
                price, need, token, busy, stop, shown]
        clear = {"fn": lambda: ("", None), "inputs": None, "outputs": [text, photo],
                 "api_visibility": "private"}
        send.click(respond, [text, photo, token, shown], outs, api_name="chat",
                   api_visibility="undocumented", concurrency_id="chat").then(**clear)  # not MCP
        text.submit(respond, [text, photo, token, shown], outs, api_visibility="private",
                    concurrency_id="chat").then(**clear)

        def chip(token, page, evt: gr.SelectData):
            yield from respond(evt.value, None, token, page)

        chat.option_select(chip, [token, shown], outs, api_visibility="private", concurrency_id="chat")
        chat.like(make_feedback(res), token, None, api_visibility="private", queue=False)
        stop.click(make_stop(res), token, None, api_visibility="private", queue=False)
        for trigger in (new_chat.click, chat.clear):
            trigger(make_new_chat(res), None, outs, api_visibility="private", queue=False)
        app.load(make_restore(res), token, outs, api_visibility="private")
        filters_in = [gender, colour, category, price, token, shown]
        for control in (gender, colour, category):
            control.input(make_set_filters(res), filters_in, outs, api_visibility="private",
                          concurrency_id="chat")
        price.submit(make_set_filters(res), filters_in, outs, api_visibility="private",
                     concurrency_id="chat")
        need.input(make_drop_need(res), [need, token, shown], outs, api_visibility="private",
                   concurrency_id="chat")
        cards.select(make_select(res), card_data,
                     [selected, selected_info, detail, detail_photo, detail_text],
                     api_visibility="private", queue=False)

        def canned(template):
            def send_canned(index, token, page):
                text = "" if index is None else template.format(n=int(index) + 1)
                yield from respond(text, None, token, page)
            return send_canned

        for button, template, group in ((more, "more like #{n}", "chat"),
                                        (look, "what goes with #{n}?", "chat"),
                                        (why, "why #{n}?", HEAVY)):
            button.click(canned(template), [selected, token, shown], outs, api_visibility="private",
                         concurrency_id=group, concurrency_limit=1 if group == HEAVY else None)

        def ping() -> str:
            """"ok": the app answers (a liveness probe, and the floor of any call's latency)."""
            return "ok"

        api.register(res)
        gr.api(ping, api_name="ping", api_visibility="undocumented")
    return app
