"""The shopping agent: a conversation over one index whose turns become checked tool calls over
the retrieval and explain layers (``ShoppingAgent``), with cards and a trace for each answer."""
from .assistant import DEFAULT_PLANNER, PLANNERS, InvalidCall, ShoppingAgent, TurnStopped
from .calls import Answer, Card, Plan, ToolCall, Trace
from .state import Conversation, UnresolvedReference
from .suggestions import suggestions
from .tools import TOOLS, Tool
from .understanding import TurnModel

__all__ = ["DEFAULT_PLANNER", "PLANNERS", "TOOLS", "Answer", "Card", "Conversation", "InvalidCall", "Plan", "ShoppingAgent",
           "Tool", "ToolCall", "Trace", "TurnModel", "TurnStopped", "UnresolvedReference", "suggestions"]
