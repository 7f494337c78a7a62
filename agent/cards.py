"""The products of an answer as cards: every listed product with its evidence facts and the
realiser's explanation; an explained product ("why?") with its heat-map, word weights and an
explanation worded by the local LLM, each sentence with the claim it states."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import closing, contextmanager
from dataclasses import asdict

from explain.evidence import Explainer, Query
from explain.writer import ExplanationWriter, Grounding, realised, template_explanation
from retrieval import LookItem, Product, Searcher, SearchResult, open_rgb
from runtime import BACKGROUND, SPARE, LocalLLM, get_llm

from .calls import Card

EXPLANATIONS = ("llm", "template")


class CardMaker:
    """Cards over one searcher. ``explanations``: ``llm`` writes an explained product's explanation
    with the local model, ``template`` builds it from the evidence. The explainer (an encoder
    copy) and the model are built on first use; pass ``explainer`` to share one among sessions."""

    def __init__(self, searcher: Searcher, explanations: str = "llm",
                 explainer: Explainer | None = None, llm: LocalLLM | None = None):
        if explanations not in EXPLANATIONS:
            raise ValueError(f"explanations must be one of {EXPLANATIONS}, not {explanations!r}")
        self.searcher, self.explanations = searcher, explanations
        self._explainer, self._llm = explainer, llm
        self._writer: ExplanationWriter | None = None
        self._sinks: dict[int, Callable[[tuple[str, object]], None]] = {}   # thread -> stream
        self._ahead: dict[tuple, Future] = {}       # explained cards worked out ahead, by ``_key``

    @property
    def llm(self) -> LocalLLM:
        if self._llm is None:
            self._llm = get_llm()
        return self._llm

    @property
    def explainer(self) -> Explainer:
        if self._explainer is None:
            self._explainer = Explainer(self.searcher)
        return self._explainer

    @property
    def writer(self) -> ExplanationWriter:
        if self._writer is None:
            self._writer = ExplanationWriter(self.llm, Grounding.of(self.searcher.vocabulary))
        return self._writer

    @contextmanager
    def streaming(self, sink: Callable[[tuple[str, object]], None]) -> Iterator[None]:
        """While inside, explanations written on this thread send their events to ``sink``
        (see ``ExplanationWriter.stream``)."""
        self._sinks[threading.get_ident()] = sink
        try:
            yield
        finally:
            self._sinks.pop(threading.get_ident(), None)

    def card(self, result: SearchResult, query: Query, look: LookItem | None = None,
             source: str | None = None, others: Sequence[Product] = ()) -> Card:
        """A listed product with its evidence facts (similarities, shared attributes, cluster,
        complement reason, how it differs from ``others``, the products listed with it) and a
        template explanation; no heat-map or word weights."""
        ev = self.explainer(query, look or result, source, attributions=False, others=others)
        p = result.product
        score = look.score if look else result.score
        return Card(p.id, p.title, p.image_path, None if score is None else float(score), p.price,
                    template_explanation(ev), "template", ev.to_json())

    @staticmethod
    def _key(product_id: str, query: Query, shown: Sequence[str]) -> tuple:
        return product_id, json.dumps(asdict(query), sort_keys=True, default=str), tuple(shown)

    def prepare(self, products: Sequence[tuple[str, Query, float | None]], shown: Sequence[str]) -> None:
        """Work out the explained cards of ``products`` (id, query, score), just shown, on the
        lowest-priority lane (``runtime.SPARE``), so that a "why?" on one of them is answered from
        what is ready; what an earlier answer left queued is dropped."""
        for future in self._ahead.values():
            future.cancel()
        self._ahead = {self._key(pid, query, shown): SPARE.submit(self._explained, pid, query, score, shown, None)
                       for pid, query, score in products}

    def settle(self, timeout: float | None = None) -> None:
        """Wait until the work ``prepare`` queued has run (a shopper reading the answer)."""
        for future in list(self._ahead.values()):
            if not future.cancelled():
                future.exception(timeout)

    def explained(self, product_id: str, query: Query, score: float | None,
                  shown: Sequence[str] = ()) -> Card:
        """The full evidence of why ``product_id`` answers ``query`` (heat-map, word weights, how
        it differs from the others ``shown`` with it, if it is among them) and an explanation
        written from it: the one ``prepare`` worked out (waited for if under way), else worked out
        now on the background thread (``runtime.background``), at a lower CPU priority than
        searches and chat turns. Its sentences are sent to the stream whole."""
        sink = self._sinks.get(threading.get_ident())
        ahead = self._ahead.get(self._key(product_id, query, shown))
        if ahead is not None and (ahead.running() or ahead.done()) and not ahead.cancelled():
            try:
                card = ahead.result()
            except Exception:  # noqa: BLE001 - worked out again below, where its error is raised
                card = None
            if card is not None:
                for s in (card.grounding or {}).get("sentences") or []:
                    if sink is not None:
                        sink(("token", s["text"] + " "))
                return card
        if ahead is not None:
            ahead.cancel()
        return BACKGROUND.run(self._explained, product_id, query, score, shown, sink)

    def _explained(self, product_id: str, query: Query, score: float | None, shown: Sequence[str],
                   sink: Callable[[tuple[str, object]], None] | None) -> Card:
        index = self.searcher.index
        p = index.product(product_id)
        others = [index.product(i) for i in shown] if product_id in shown else []
        ev = self.explainer(query, SearchResult(p.id, score, p.title, p), others=others)
        png = ev.heatmap.overlay_png(open_rgb(p.image_path)[0]) if ev.heatmap is not None else None
        if self.explanations == "llm":
            written = None
            with closing(self.writer.stream(ev)) as events:     # a sink that raises frees the model
                for kind, payload in events:
                    if kind == "done":
                        written = payload
                    elif sink is not None:
                        sink((kind, payload))
        else:
            written = realised(ev)
        text, source, grounding = written.text, written.source, written.to_json()
        return Card(p.id, p.title, p.image_path, score, p.price, text, source,
                    ev.to_json(heatmap_png=png), grounding)
