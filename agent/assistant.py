"""The shopping agent: one turn = plan (parser or LLM), check the tool calls, run them, answer
with products, explanations and a trace of what decided the turn."""
from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from explain.evidence import Explainer
from explain.instructions import TURN_CUES, is_instruction, without_instructions
from retrieval import ImageInput, IndexLookupError, QueryError, Searcher
from runtime import LocalLLM

from .calls import Answer, Card, Plan, ToolCall, ToolResult, ToolRun, Trace
from .cards import CardMaker
from .parser import Parser
from .planner import LLMPlanner, PlanningError
from .state import PHOTO, Conversation, UnresolvedReference, resolve
from .tools import FILTER_VALUES, LIST_ARGS, TOOLS, Tool
from .understanding import TurnModel

HELP = ("I can search (\"navy shirts for men under 1500\"), find similar products (\"more like the "
        "second one\"), change one (\"like this but in linen\"), complete an outfit (\"what goes "
        "with it?\"), explain a choice (\"why this one?\"), compare (\"compare the first two\") "
        "and start over (\"reset\").")

IGNORED = ("That message reads like instructions or code for me rather than a shopping request, so "
           "I have not acted on it.")

# How a turn is understood: keyword patterns, the trained turn model, the model and the local LLM
# for turns it is unsure of, or the LLM first.
PLANNERS = ("parser", "model", "auto", "llm")
DEFAULT_PLANNER = "model"


class TurnStopped(Exception):
    """The shopper stopped the turn while its explanation was being written."""


class InvalidCall(ValueError):
    """A tool call with an unknown tool, arguments against its schema, or a filter value the
    catalogue does not have."""


class ShoppingAgent:
    """A conversation over one index. ``planner``: ``parser`` (keyword patterns only), ``model``
    (the trained turn model decides the intent), ``auto`` (the model, and the LLM for turns it is
    unsure of: its probability under ``unsure``) or ``llm`` (the LLM plans every turn, the parser is
    its fallback). Slots and references are filled by the parser's code for every planner but the
    LLM. ``explanations``: ``llm`` writes the explanation of an explained product with the local
    model, ``template`` builds it from the evidence. Every listed product carries its evidence facts
    and a template explanation. ``explainer``: share one among sessions (it holds an encoder copy).
    ``ahead``: after each listing, the shown products' explained cards are worked out at the lowest
    priority, so that "why?" on one of them answers at once."""

    def __init__(self, searcher: Searcher, planner: str = DEFAULT_PLANNER,
                 explanations: str = "llm", k: int = 6, llm: LocalLLM | None = None,
                 llm_timeout: float = 20.0, explainer: Explainer | None = None, unsure: float = 0.5,
                 ahead: bool = False):
        if planner not in PLANNERS:
            raise ValueError(f"planner must be one of {PLANNERS}, not {planner!r}")
        self.searcher, self.k = searcher, k
        self.tools: dict[str, Tool] = TOOLS
        self.parser = Parser(searcher.vocabulary, searcher.index)
        self.planner_mode = planner
        self.cards = CardMaker(searcher, explanations, explainer, llm)
        self.llm_timeout, self.unsure, self.ahead = llm_timeout, unsure, ahead
        self._planner: LLMPlanner | None = None
        self._turn_model: TurnModel | None = None
        self.state = Conversation()
        self._photo_dir = tempfile.TemporaryDirectory(prefix="agent-photos-")
        self._lock = threading.Lock()                   # one turn at a time per conversation
        self._stop = threading.Event()                  # set by ``stop``, cleared by each stream
        self.last_trace: Trace | None = None

    @property
    def turn_model(self) -> TurnModel:
        """The trained turn model of this index's text tower (built on first use, then cached)."""
        if self._turn_model is None:
            self._turn_model = TurnModel.for_encoder(self.searcher.encoder)
        return self._turn_model

    @property
    def planner(self) -> LLMPlanner:
        if self._planner is None:
            self._planner = LLMPlanner(self.cards.llm, list(self.tools.values()), self.llm_timeout)
        return self._planner

    def explained(self, product_id: str) -> Card:
        """A product's full evidence (heat-map, word weights) and written explanation, against
        the query of the listing it was shown in."""
        return self.cards.explained(product_id, self.state.query_for(product_id),
                                    self.state.scores.get(product_id), self.state.shown)

    # -- one turn -------------------------------------------------------------------------------
    def check(self, call: ToolCall) -> dict:
        """Validate ``call`` (schema, catalogue values) and resolve its product references; returns
        ``{argument: product id or list of ids}``, also kept in ``call.resolved``."""
        tool = self.tools.get(call.name)
        if tool is None:
            raise InvalidCall(f"unknown tool {call.name!r}")
        errors = tool.errors(call.args)
        if errors:
            raise InvalidCall(f"{call.name}: " + "; ".join(errors))
        for name in FILTER_VALUES:
            if isinstance(call.args.get(name), list):
                call.args[name] = [self.catalogue_value(name, v) for v in call.args[name]]
            elif name in call.args:
                call.args[name] = self.catalogue_value(name, call.args[name])
        resolved = {name: self.resolve(call.args.get(name) or "this") for name in tool.product_args}
        for name in LIST_ARGS:
            if name in call.args:
                resolved[name] = [self.resolve(r) for r in call.args[name]]
        call.resolved = resolved
        return resolved

    def resolve(self, reference: str) -> str:
        if reference == PHOTO:
            if self.state.photo is None:
                raise UnresolvedReference("Which photo? Upload one first.")
            return PHOTO
        return resolve(reference, self.state, self.searcher.index)

    def catalogue_value(self, field: str, value: str) -> str:
        """The catalogue's spelling of ``value`` for ``field`` ("navy blue" -> "Navy Blue")."""
        known = self.searcher.vocabulary.value(field, value)
        if known is None:
            raise InvalidCall(f"{field}: {value!r} is not a {field.replace('_', ' ')} of this catalogue")
        return known

    def plan(self, text: str) -> tuple[Plan, str, dict | None]:
        """The plan for ``text``, what decided it, and the LLM's record when it ran. Sentences
        that talk to the assistant or paste code and tool calls are left out first; the rest of
        the turn (if any) is planned by the parser alone, never the LLM."""
        t = text.strip()
        instruction = is_instruction(t, TURN_CUES)
        if instruction:
            t = without_instructions(t, TURN_CUES)
            if not t:
                return Plan("help", [], IGNORED), "parser (instruction-like text only: not followed)", None
        if instruction or not t or self.planner_mode == "parser":
            why = " (instruction-like text left out)" if instruction else ""
            parsed = self.parser.parse(t, self.state)
            if parsed is None:
                return self.default_plan(t), "parser (default: search the words)" + why, None
            return parsed, "parser" + why, None
        if self.planner_mode == "llm":
            return self.llm_plan(t, self.parser.parse(t, self.state), "llm")
        mod = self.searcher.vocabulary.parse(t)
        intent, p = self.turn_model.predict(t, mod, self.state)
        planned = self.parser.plan(intent, t, self.state, mod)
        if self.planner_mode == "auto" and p < self.unsure:
            return self.llm_plan(t, planned, f"llm (model unsure: {intent} {p:.2f})")
        return planned, f"model ({p:.2f})", None

    def llm_plan(self, t: str, fallback: Plan | None, decided_by: str) -> tuple[Plan, str, dict | None]:
        """The LLM planner's plan for ``t``; ``fallback`` (else a search of the words) when it fails."""
        try:
            call, record = self.planner.plan(t, self.state, self.searcher.index)
            dropped = self.ungrounded_filters(call, t)
            if dropped:
                record["dropped"] = dropped
            self.check(call)
            return Plan(call.name, [call]), decided_by, record
        except (PlanningError, InvalidCall, UnresolvedReference) as exc:
            why = f"{'parser' if self.planner_mode == 'llm' else 'model'} (fallback: {exc})"
            return fallback or self.default_plan(t), why, getattr(exc, "record", None)

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

    def turn(self, text: str, photo: ImageInput | None = None) -> Answer:
        """Answer one shopper message (and optional photo: a path, bytes or a PIL image)."""
        with self._lock:
            start = time.perf_counter()
            self.state.turns += 1
            if photo is not None:
                self.state.photo = self._store_photo(photo)
                self.state.photo_turn = self.state.turns
            plan, decided_by, record = self.plan(text or "")
            trace = Trace(decided_by, plan.intent, llm=record, planning_seconds=time.perf_counter() - start)
            return self.execute(plan, trace, start)

    def call(self, name: str, args: dict) -> Answer:
        """Run one tool call as given, without planning (an API or MCP client's request); its
        product references are ids or references to this conversation's state."""
        with self._lock:
            start = time.perf_counter()
            self.state.turns += 1
            return self.execute(Plan(name, [ToolCall(name, dict(args))]), Trace("api", name), start)

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
        """Check and run the plan's calls, recording each in ``trace``, with the need they left."""
        messages, cards, before = [], [], dict(self.state.filters)
        for call in plan.calls:
            run = ToolRun(call.name, call.args)
            t0 = time.perf_counter()
            try:
                run.resolved = call.resolved if call.resolved is not None else self.check(call)
                result = self.tools[call.name].run(self, {**call.args, **run.resolved})
            except (UnresolvedReference, InvalidCall, QueryError, IndexLookupError) as exc:
                run.ok, run.error = False, str(exc)
                result = ToolResult(str(exc) if isinstance(exc, UnresolvedReference) else
                                    f"Sorry, I couldn't do that: {exc}")
            run.seconds = time.perf_counter() - t0
            run.details = result.data
            trace.tools.append(run)
            messages.append(result.message)
            cards.extend(result.cards)
            if result.listing is not None:
                self.state.last_search = result.listing
            if result.cards and self.tools[call.name].lists:
                self.state.show([c.id for c in result.cards], [c.score for c in result.cards])
                if self.ahead:
                    self.cards.prepare([(c.id, self.state.query_for(c.id), c.score) for c in result.cards],
                                       self.state.shown)
        if not plan.calls:
            messages.append(f"{plan.reply} {HELP}".strip())
        trace.need = dict(self.state.filters)
        trace.update = {"set": {k: v for k, v in trace.need.items() if before.get(k) != v},
                        "cleared": [k for k in before if k not in trace.need]}
        trace.seconds = time.perf_counter() - start
        self.last_trace = trace
        return Answer(" ".join(m for m in messages if m), cards, trace, self.state.to_json())

    def stream(self, text: str, photo: ImageInput | None = None) -> Iterator[tuple[str, object]]:
        """Events of one turn as they happen: while an explanation is written, ``("token",
        piece)``, ``("retry", claims)`` and ``("replace", text)`` (see
        ``ExplanationWriter.stream``); last ``("answer", Answer)``, or ``("stopped", None)`` when
        ``stop`` ended the explanation being written (the model stops generating at once)."""
        events: queue.Queue = queue.Queue()
        self._stop.clear()

        def sink(event: tuple[str, object]) -> None:
            if self._stop.is_set():
                raise TurnStopped
            events.put(event)

        def work():
            try:
                with self.cards.streaming(sink):
                    events.put(("answer", self.turn(text, photo)))
            except TurnStopped:
                events.put(("stopped", None))
            except BaseException as exc:          # re-raised in the caller's thread
                events.put(("error", exc))

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            while True:
                kind, payload = events.get()
                if kind == "error":
                    raise payload
                yield kind, payload
                if kind in ("answer", "stopped"):
                    break
        finally:
            worker.join()

    def stop(self) -> None:
        """Stop the explanation being written by ``stream`` (if any)."""
        self._stop.set()

    def _store_photo(self, photo: ImageInput) -> str:
        if isinstance(photo, (str, Path)):
            return str(photo)
        path = Path(self._photo_dir.name) / f"photo-{self.state.turns}.png"
        if isinstance(photo, (bytes, bytearray)):
            path.write_bytes(photo)
        else:
            photo.save(path)
        return str(path)
