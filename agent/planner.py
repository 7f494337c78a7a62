"""The LLM planner: function calling through llama.cpp's JSON-schema grammar. The tools' schemas
become one grammar (``{"tool": <name>, "arguments": <that tool's arguments>}`` for any one tool),
so the model can only write a call to a known tool with well-formed arguments. It plans the turns
the parser cannot read; any failure raises ``PlanningError`` and the agent falls back to the parser.

(llama-cpp-python's ``chatml-function-calling`` handler was tried first: with the Qwen2.5 GGUF its
tool-name stage returned ``functions.search:`` as a plain message, so no call ever came back.)"""
from __future__ import annotations

import json

from explain.instructions import without_instructions
from explain.writer import quoted
from prompts import load
from retrieval import ProductIndex
from runtime import LocalLLM

from .calls import ToolCall
from .state import Conversation
from .tools import Tool


class PlanningError(RuntimeError):
    """The LLM produced no usable tool call; ``record`` holds what it did."""

    def __init__(self, message: str, record: dict | None = None):
        super().__init__(message)
        self.record = record


def describe_state(state: Conversation, index: ProductIndex) -> dict[str, str]:
    """The conversation as the planner sees it (titles quoted as data, without instruction-like
    text)."""
    def line(pid: str) -> str:
        p = index.product(pid)
        kind = ", ".join(v for v in (p.article_type, p.colour) if v)
        return quoted(f"{without_instructions(p.title)} ({kind})")

    shown = "; ".join(f"#{i + 1} {line(pid)}" for i, pid in enumerate(state.shown) if pid in index)
    focus = line(state.focus) if state.focus and state.focus in index else "nothing"
    filters = ", ".join(f"{k} = {v}" for k, v in state.filters.items()) or "none"
    return {"shown": shown or "nothing", "focus": focus, "filters": filters,
            "photo": "yes" if state.photo is not None else "no"}


class LLMPlanner:
    """Plans one turn with a local chat model (``runtime.LocalLLM``) as one tool call."""

    def __init__(self, llm: LocalLLM, tools: list[Tool], timeout: float = 20.0, max_tokens: int = 96):
        self.llm, self.timeout, self.max_tokens = llm, timeout, max_tokens
        self.tools = {t.name: t for t in tools}
        self.schema = {"oneOf": [
            {"type": "object", "properties": {"tool": {"const": t.name}, "arguments": t.parameters},
             "required": ["tool", "arguments"], "additionalProperties": False} for t in tools]}
        signatures = "\n".join(f"- {t.name}({', '.join(t.parameters['properties'])})" for t in tools)
        self.system = load("agent_system").substitute(tools=signatures)

    def messages(self, text: str, state: Conversation, index: ProductIndex) -> list[dict]:
        user = load("agent_user").substitute(describe_state(state, index), message=quoted(text))
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def plan(self, text: str, state: Conversation, index: ProductIndex) -> tuple[ToolCall, dict]:
        """One tool call for ``text`` and a record (raw output, seconds) for the trace."""
        messages = self.messages(text, state, index)
        try:
            gen = self.llm.generate(messages, max_tokens=self.max_tokens, temperature=0.0,
                                    timeout=self.timeout, schema=self.schema, wait=self.timeout)
        except TimeoutError as exc:
            raise PlanningError(f"the LLM planner could not start: {exc}", {}) from None
        except Exception as exc:                  # llama.cpp or grammar errors
            raise PlanningError(f"the LLM planner failed: {exc}", {}) from None
        record = {"seconds": round(gen.total_s, 3)}
        raw = gen.text
        record["raw"] = raw
        try:
            call = json.loads(raw)
        except json.JSONDecodeError as exc:
            if gen.total_s > self.timeout:
                raise PlanningError(f"the LLM planner took longer than {self.timeout:g}s",
                                    record) from None
            raise PlanningError(f"the LLM's call is not JSON ({exc})", record) from None
        if not isinstance(call, dict) or call.get("tool") not in self.tools:
            raise PlanningError(f"the LLM asked for an unknown tool {call.get('tool') if isinstance(call, dict) else call!r}",
                                record)
        args = call.get("arguments")
        if not isinstance(args, dict):
            raise PlanningError("the LLM's arguments are not an object", record)
        return ToolCall(call["tool"], args), record
