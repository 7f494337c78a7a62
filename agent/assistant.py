"""The shopping agent: one turn = plan (parser or LLM), check the tool calls, run them, answer
with products, explanations and a trace of what decided the turn."""
from __future__ import annotations

import queue
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from explain.evidence import Explainer, Query
from explain.writer import ExplanationWriter, Grounding, template_explanation
from retrieval.composed import normalise
from retrieval.index import IndexLookupError, SearchResult
from retrieval.ingest import open_rgb
from retrieval.search import QueryError, Searcher

from .parser import INSTRUCTION, Parser, Plan, ToolCall
from .planner import LLMPlanner, PlanningError
from .state import Conversation, UnresolvedReference, resolve
from .tools import FILTER_VALUES, PHOTO, Card, Tool, ToolResult, tools

PLANNERS = ("parser", "auto", "llm")
HELP = ("I can search (\"navy shirts for men under 1500\"), find similar products (\"more like the "
        "second one\"), change one (\"like this but in linen\"), complete an outfit (\"what goes "
        "with it?\"), explain a choice (\"why this one?\"), compare (\"compare the first two\") "
        "and start over (\"reset\").")


class InvalidCall(ValueError):
    """A tool call with an unknown tool, arguments against its schema, or a product reference
    that names nothing."""


@dataclass
class ToolRun:
    name: str
    args: dict
    resolved: dict = field(default_factory=dict)     # product argument -> product id
    ok: bool = True
    error: str | None = None
    seconds: float = 0.0
    details: dict = field(default_factory=dict)      # what the tool reports beside its products

    def to_json(self) -> dict:
        return {"name": self.name, "args": self.args, "resolved": self.resolved, "ok": self.ok,
                "error": self.error, "seconds": round(self.seconds, 4), "details": self.details}


@dataclass
class Trace:
    """What decided a turn and what ran, for an analyst."""
    decided_by: str                      # "parser", "llm", or "parser (fallback: <why>)"
    intent: str
    tools: list[ToolRun] = field(default_factory=list)
    llm: dict | None = None              # the LLM planner's raw call and timing, when it ran
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"decided_by": self.decided_by, "intent": self.intent,
                "tools": [t.to_json() for t in self.tools], "llm": self.llm,
                "seconds": round(self.seconds, 4)}


@dataclass
class Answer:
    message: str
    cards: list[Card]
    trace: Trace
    state: dict

    def to_json(self) -> dict:
        return {"message": self.message, "products": [c.to_json() for c in self.cards],
                "trace": self.trace.to_json(), "state": self.state}


class ShoppingAgent:
    """A conversation over one index. ``planner``: ``parser`` (deterministic only), ``auto``
    (parser, and the LLM for turns the parser cannot read) or ``llm`` (the LLM plans every turn);
    the parser is the fallback whenever the LLM fails. ``explanations``: ``llm`` writes the
    explanation of an explained product with the local model, ``template`` builds it from the
    evidence. Every listed product carries its evidence facts and a template explanation."""

    def __init__(self, searcher: Searcher, planner: str = "auto", explanations: str = "llm",
                 k: int = 6, llm=None, llm_timeout: float = 20.0,
                 explainer: Explainer | None = None):
        if planner not in PLANNERS:
            raise ValueError(f"planner must be one of {PLANNERS}, not {planner!r}")
        self.searcher, self.k = searcher, k
        self.tools: dict[str, Tool] = tools()
        self.parser = Parser(searcher.vocabulary, searcher.index)
        self.planner_mode, self.explanations = planner, explanations
        self._llm = llm
        self.llm_timeout = llm_timeout
        self._planner: LLMPlanner | None = None
        self._explainer = explainer          # share one among sessions: it holds an encoder copy
        self._writer: ExplanationWriter | None = None
        self.state = Conversation()
        self._photo_dir = tempfile.TemporaryDirectory(prefix="agent-photos-")
        self._streams: dict[int, queue.Queue] = {}     # worker thread -> its stream's events
        self._lock = threading.Lock()                   # one turn at a time per conversation
        self.last_trace: Trace | None = None

    # -- lazily built parts -------------------------------------------------------------------
    @property
    def llm(self):
        if self._llm is None:
            from explain.llm import get_llm

            self._llm = get_llm()
        return self._llm

    @property
    def planner(self) -> LLMPlanner:
        if self._planner is None:
            self._planner = LLMPlanner(self.llm, list(self.tools.values()), self.llm_timeout)
        return self._planner

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

    # -- helpers the tools use ----------------------------------------------------------------
    def resolve(self, reference: str) -> str:
        if reference == PHOTO:
            if self.state.photo is None:
                raise UnresolvedReference("Which photo? Upload one first.")
            return PHOTO
        return resolve(reference, self.state, self.searcher.index)

    def product_arg(self, args: dict, name: str) -> str:
        return self.resolve(args.get(name) or "this")

    def title(self, product_id: str) -> str:
        return self.searcher.index.product(product_id).title or product_id

    def card(self, result: SearchResult, query: Query, look=None, source: str | None = None) -> Card:
        """A product with its evidence facts (similarities, shared attributes, cluster,
        complement reason) and a template explanation; no heat-map or word weights (see
        ``explained_card``)."""
        ev = self.explainer(query, look or result, source, attributions=False)
        p = result.product
        score = look.score if look else result.score
        return Card(p.id, p.title, p.image_path, None if score is None else float(score), p.price,
                    template_explanation(ev), "template", ev.to_json())

    def explained_card(self, product_id: str) -> Card:
        """The full evidence of why ``product_id`` is shown (heat-map, word weights) and an
        explanation written from it."""
        query = self.query_for(product_id)
        p = self.searcher.index.product(product_id)
        ev = self.explainer(query, SearchResult(p.id, self.state.scores.get(p.id), p.title, p))
        png = ev.heatmap.overlay_png(open_rgb(p.image_path)[0]) if ev.heatmap is not None else None
        if self.explanations == "llm":
            written = None
            for kind, payload in self.writer.stream(ev):
                if kind == "done":
                    written = payload
                elif threading.get_ident() in self._streams:
                    self._streams[threading.get_ident()].put((kind, payload))
            text, source = written.text, written.source
            grounding = {"attempts": written.attempts, "rejected": written.rejected,
                         "reason": written.reason}
        else:
            text, source, grounding = template_explanation(ev), "template", None
        return Card(p.id, p.title, p.image_path, self.state.scores.get(p.id), p.price, text, source,
                    ev.to_json(heatmap_png=png), grounding)

    def query_for(self, product_id: str) -> Query:
        """The query a shown product answered (the last listing), else the product itself."""
        last = self.state.last_search
        if not last or product_id not in self.state.shown:
            return Query("item", product_id=product_id)
        tool, args = last["tool"], last["args"]
        reference = args.get("product")
        if reference == PHOTO or (tool == "search" and args.get("photo")):
            if tool == "refine" or (tool == "search" and args.get("text")):
                return Query("composed", args.get("modifier") or args["text"],
                             image_path=self.state.photo)
            return Query("image", image_path=self.state.photo)
        if tool == "search":
            return Query("text", args["text"])
        if tool == "refine":
            return Query("composed", args["modifier"], product_id=reference)
        if tool == "complete_look":
            return Query("look", product_id=reference)
        if tool == "recommend_for_user":
            return Query("item", product_id=args["history"][-1])
        return Query("item", product_id=reference)

    def reset(self) -> None:
        self.state = Conversation(turns=self.state.turns)

    # -- one turn -------------------------------------------------------------------------------
    def check(self, call: ToolCall) -> dict:
        """Validate ``call`` and resolve its product references; returns ``{arg: product id}``."""
        tool = self.tools.get(call.name)
        if tool is None:
            raise InvalidCall(f"unknown tool {call.name!r}")
        errors = tool.errors(call.args)
        if errors:
            raise InvalidCall(f"{call.name}: " + "; ".join(errors))
        for name in FILTER_VALUES:
            if name in call.args:
                call.args[name] = self.catalogue_value(name, call.args[name])
        resolved = {}
        for name in tool.product_args:
            resolved[name] = self.resolve(call.args.get(name) or "this")
        for name in ("products", "history"):
            if name in call.args:
                resolved[name] = [self.resolve(r) for r in call.args[name]]
        return resolved

    def catalogue_value(self, field: str, value: str) -> str:
        """The catalogue's spelling of ``value`` for ``field`` ("navy blue" -> "Navy Blue")."""
        known = self.searcher.vocabulary.phrases.get(normalise(value))
        if known is None or known[0] != field:
            raise InvalidCall(f"{field}: {value!r} is not a {field.replace('_', ' ')} of this catalogue")
        return known[1]

    def run_call(self, name: str, args: dict) -> ToolResult:
        return self.tools[name].run(self, args)

    def plan(self, text: str) -> tuple[Plan, str, dict | None]:
        """The plan for ``text``, what decided it, and the LLM's record when it ran."""
        parsed = self.parser.parse(text, self.state)
        if INSTRUCTION.search(text):
            return parsed, "parser (instruction-like text is searched as words)", None
        use_llm = self.planner_mode == "llm" or (self.planner_mode == "auto" and parsed is None)
        if use_llm and text.strip():
            try:
                call, record = self.planner.plan(text, self.state, self.searcher.index)
                dropped = self.ungrounded_filters(call, text)
                if dropped:
                    record["dropped"] = dropped
                self.check(call)
                return Plan(call.name, [call]), "llm", record
            except (PlanningError, InvalidCall, UnresolvedReference) as exc:
                fallback = f"parser (fallback: {exc})"
                record = getattr(exc, "record", None)
                if parsed is None:
                    return self.default_plan(text), fallback, record
                return parsed, fallback, record
        if parsed is None:
            return self.default_plan(text), "parser (default: search the words)", None
        return parsed, "parser", None

    def ungrounded_filters(self, call: ToolCall, text: str) -> dict:
        """Remove (and return) filter arguments the shopper's words do not name: a small model
        fills optional fields it was not asked for."""
        named = self.parser.filters_in(text)
        dropped = {}
        for name in (*FILTER_VALUES, "price_max", "price_min"):
            if name in call.args and name not in named:
                dropped[name] = call.args.pop(name)
        return dropped

    def default_plan(self, text: str) -> Plan:
        if len(text.split()) == 0:
            return Plan("help", [])
        return Plan("search", [ToolCall("search", {"text": text.strip()})])

    def turn(self, text: str, photo=None) -> Answer:
        """Answer one shopper message (and optional photo: a path, bytes or a PIL image)."""
        with self._lock:
            start = time.perf_counter()
            self.state.turns += 1
            if photo is not None:
                self.state.photo = self._store_photo(photo)
                self.state.photo_turn = self.state.turns
            plan, decided_by, record = self.plan(text or "")
            return self.execute(plan, Trace(decided_by, plan.intent, llm=record), start)

    def set_filters(self, filters: dict) -> Answer:
        """Replace the active filters (a UI's controls; empty values clear one) and list the last
        results again under them."""
        with self._lock:
            start = time.perf_counter()
            self.state.turns += 1
            self.state.filters = {}
            values = {k: v for k, v in filters.items() if v not in (None, "")}
            plan = Plan("filter", [ToolCall("filter", values)])
            return self.execute(plan, Trace("controls", plan.intent), start)

    def execute(self, plan: Plan, trace: Trace, start: float) -> Answer:
        """Check and run the plan's calls, recording each in ``trace``."""
        messages, cards = [], []
        for call in plan.calls:
            run = ToolRun(call.name, call.args)
            t0 = time.perf_counter()
            try:
                run.resolved = self.check(call)
                result = self.run_call(call.name, call.args)
            except (UnresolvedReference, InvalidCall, QueryError, IndexLookupError) as exc:
                run.ok, run.error = False, str(exc)
                result = ToolResult(str(exc) if isinstance(exc, UnresolvedReference) else
                                    f"Sorry, I couldn't do that: {exc}")
            run.seconds = time.perf_counter() - t0
            run.details = result.data
            trace.tools.append(run)
            messages.append(result.message)
            cards.extend(result.cards)
            if result.cards and self.tools[call.name].lists:
                self.state.show([c.id for c in result.cards], [c.score for c in result.cards])
        if not plan.calls:
            messages.append(HELP)
        trace.seconds = time.perf_counter() - start
        self.last_trace = trace
        return Answer(" ".join(m for m in messages if m), cards, trace, self.state.to_json())

    def stream(self, text: str, photo=None) -> Iterator[tuple[str, object]]:
        """Events of one turn as they happen: while an explanation is written, ``("token",
        piece)``, ``("retry", claims)`` and ``("replace", text)`` (see
        ``ExplanationWriter.stream``); last ``("answer", Answer)``."""
        events: queue.Queue = queue.Queue()

        def work():
            self._streams[threading.get_ident()] = events
            try:
                events.put(("answer", self.turn(text, photo)))
            except BaseException as exc:          # re-raised in the caller's thread
                events.put(("error", exc))
            finally:
                self._streams.pop(threading.get_ident(), None)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            while True:
                kind, payload = events.get()
                if kind == "error":
                    raise payload
                yield kind, payload
                if kind == "answer":
                    break
        finally:
            worker.join()

    def _store_photo(self, photo) -> str:
        if isinstance(photo, (str, Path)):
            return str(photo)
        path = Path(self._photo_dir.name) / f"photo-{self.state.turns}.png"
        if isinstance(photo, (bytes, bytearray)):
            path.write_bytes(photo)
        else:
            photo.save(path)
        return str(path)
