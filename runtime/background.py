"""Heavy work (heat-maps, word attributions, the LLM) on its own thread at a lower CPU priority.

``BACKGROUND.run(fn, ...)`` runs ``fn`` on one worker thread whose nice value is ``NICE`` higher
than the process's; the threads that work spawns (torch's OpenMP team, llama.cpp's compute
threads) inherit it. Searches and chat turns, on other threads at the normal priority, get the
CPU first when both want it, and the heavy work still has every core when nothing else runs.
Calls queue one after another (the LLM answers one call at a time anyway). A thread's own nice
value is a Linux feature: elsewhere the work only moves to the worker thread.

``SPARE`` is a second such lane at the lowest priority, for work done ahead of a request that may
never come (the explanations of the products just shown): its queued calls can be cancelled.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

NICE = 10
T = TypeVar("T")


class Background:
    """One worker thread at ``nice`` below the normal priority."""

    def __init__(self, nice: int = NICE):
        self.nice = nice
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="heavy", initializer=self._lower)
        self._worker: int | None = None

    def _lower(self) -> None:
        self._worker = threading.get_ident()
        if sys.platform == "linux":           # the calling thread only (a Linux thread's TID)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           min(19, os.getpriority(os.PRIO_PROCESS, 0) + self.nice))

    def submit(self, fn: Callable[..., T], *args, **kwargs) -> Future:
        """``fn(*args, **kwargs)`` queued on the worker thread; cancel the future to drop it
        before it starts."""
        return self._pool.submit(fn, *args, **kwargs)

    def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """``fn(*args, **kwargs)`` on the worker thread (directly when called from it); its
        exception is raised here."""
        if threading.get_ident() == self._worker:
            return fn(*args, **kwargs)
        return self._pool.submit(fn, *args, **kwargs).result()


BACKGROUND = Background()
SPARE = Background(nice=19)
