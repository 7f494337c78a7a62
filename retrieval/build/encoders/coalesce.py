"""Work that arrives together, done together: calls made while an earlier call's batch is running
wait for it to end and then run as one batch (the texts of shoppers' concurrent queries through the
text tower in one forward pass). A call made alone runs at once: nothing waits for company."""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class _Call:
    items: list[Hashable]
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False                 # this call's thread runs the next batch
    rows: np.ndarray | None = None
    error: BaseException | None = None

    def outcome(self) -> np.ndarray:
        if self.error is not None:
            raise self.error
        return self.rows


class Coalescer:
    """``coalescer(items)`` is ``fn(items)`` (rows in item order, items hashable), with the items
    of calls that overlap a running batch run together in the next one, each distinct item once.
    The thread of the first waiting call runs that batch; at most one batch runs at a time."""

    def __init__(self, fn: Callable[[list], np.ndarray]):
        self.fn = fn
        self._lock = threading.Lock()
        self._waiting: list[_Call] = []
        self._running = False

    @property
    def waiting(self) -> int:
        """Calls waiting for the running batch to end."""
        with self._lock:
            return len(self._waiting)

    def __call__(self, items: Sequence[Hashable]) -> np.ndarray:
        call = _Call(list(items))
        with self._lock:
            self._waiting.append(call)
            leads = call.leads = not self._running
            self._running = True
        if not leads:
            call.done.wait()
            if not call.leads:
                return call.outcome()
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            distinct = list(dict.fromkeys(i for c in batch for i in c.items))
            rows = dict(zip(distinct, self.fn(distinct)))
            for c in batch:
                c.rows = np.stack([rows[i] for i in c.items])
        except BaseException as error:    # every call of the batch gets the batch's error
            for c in batch:
                c.error = error
        with self._lock:
            if self._waiting:             # calls that came during this batch: the first one runs next
                self._waiting[0].leads = True
                self._waiting[0].done.set()
            else:
                self._running = False
        for c in batch:
            if c is not call:
                c.done.set()
        return call.outcome()
