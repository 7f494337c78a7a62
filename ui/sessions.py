"""Shoppers' conversations on the server, keyed by a random token the browser keeps in its local
storage (Gradio's ``BrowserState``), so a chat survives a page reload; the least recently used are
dropped beyond ``MAX_SESSIONS`` (and all of them when the server restarts)."""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from agent import Card, ShoppingAgent

MAX_SESSIONS = 1000


@dataclass
class Session:
    """One shopper's chat: the agent (conversation state), the messages on screen, the products
    listed last, and the trace of each answer by its message index (for thumbs up/down)."""
    token: str
    agent: ShoppingAgent
    history: list[dict] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    traces: dict[int, dict] = field(default_factory=dict)


class Sessions:
    """Thread-safe store of ``Session`` by token; ``make_agent`` builds a new conversation."""

    def __init__(self, make_agent: Callable[[], ShoppingAgent], limit: int = MAX_SESSIONS):
        self.make_agent, self.limit = make_agent, limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str | None) -> Session:
        """The session of ``token``, else a new one (with a new token: a client never picks one)."""
        with self._lock:
            session = self._sessions.get(token or "")
            if session is not None:
                self._sessions.move_to_end(session.token)
                return session
        return self.new()

    def find(self, token: str | None) -> Session | None:
        with self._lock:
            return self._sessions.get(token or "")

    def new(self) -> Session:
        session = Session(secrets.token_urlsafe(16), self.make_agent())
        with self._lock:
            self._sessions[session.token] = session
            while len(self._sessions) > self.limit:
                self._sessions.popitem(last=False)
        return session

    def __len__(self) -> int:
        return len(self._sessions)
