"""What a turn is made of and answers with: tool calls and plans, the products of an answer
(cards), what a tool returns, and the trace an analyst reads."""
from __future__ import annotations

from dataclasses import dataclass, field

from explain.evidence import Query


@dataclass
class ToolCall:
    name: str
    args: dict = field(default_factory=dict)
    resolved: dict | None = field(default=None, repr=False)   # its product ids, once checked

    def to_json(self) -> dict:
        return {"name": self.name, "args": self.args}


@dataclass
class Plan:
    intent: str                 # the tool the turn is about ("help" when none)
    calls: list[ToolCall]
    reply: str = ""             # what to say when no tool runs (a greeting back, thanks)


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
    grounding: dict | None = None   # each sentence's claim and evidence, defects, why the realiser wrote it

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "image": self.image,
                "score": None if self.score is None else round(self.score, 4), "price": self.price,
                "explanation": self.explanation, "explanation_source": self.explanation_source,
                "grounding": self.grounding, "evidence": self.evidence}


@dataclass
class Listing:
    """A listing on screen: the tool call that made it (product references resolved to ids), to
    run again under new filters or exclusions, and the query its products answer."""
    tool: str
    args: dict
    query: Query


@dataclass
class ToolResult:
    message: str
    cards: list[Card] = field(default_factory=list)
    data: dict = field(default_factory=dict)     # e.g. a comparison table; goes into the trace
    listing: Listing | None = None               # set by tools whose products form a listing


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
    decided_by: str                      # "parser", "model (<p>)", "llm", or "<x> (fallback: <why>)"
    intent: str
    tools: list[ToolRun] = field(default_factory=list)
    llm: dict | None = None              # the LLM planner's raw call and timing, when it ran
    need: dict = field(default_factory=dict)   # the shopper's need after the turn (slot -> value)
    update: dict = field(default_factory=dict)  # what the turn changed: {"set": {...}, "cleared": [...]}
    seconds: float = 0.0
    planning_seconds: float = 0.0             # of which deciding the plan (understanding the turn)

    def to_json(self) -> dict:
        return {"decided_by": self.decided_by, "intent": self.intent,
                "planning_seconds": round(self.planning_seconds, 4),
                "tools": [t.to_json() for t in self.tools], "llm": self.llm, "need": self.need,
                "update": self.update, "seconds": round(self.seconds, 4)}


@dataclass
class Answer:
    message: str
    cards: list[Card]
    trace: Trace
    state: dict

    def to_json(self) -> dict:
        return {"message": self.message, "products": [c.to_json() for c in self.cards],
                "trace": self.trace.to_json(), "state": self.state}
