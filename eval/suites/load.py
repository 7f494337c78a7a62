"""The served app under concurrent shoppers, over the HTTP API a browser's events go through.

The app runs as its own process (``python -m ui``) on the index given with ``--index`` (else the
demo index). Each shopper is a thread with its own HTTP client calling Gradio's call API (one
request to queue an event, one stream of its results): a short conversation over ``/chat`` (a
search, a filter, "more like the second one"), the product photos of each answer fetched as a
browser fetches them (kind ``photos``), two ``/search`` calls and a ``/ping``; a quarter of the
shoppers also ask "why the first one?" (heat-map, word attributions and the LLM), so searches
are measured with explanations in flight. Per request: seconds to the first chunk of the answer
and to the whole answer.

Baselines of the same run: the app's own floor (``/ping``, a call that does nothing: alone, and
its throughput with ``SESSIONS`` callers at once), the agent's own time for the same turns in this
process on the same index, and every request kind by one shopper alone (``ALONE`` shoppers in
turn, after a warm-up).
"""
from __future__ import annotations

import json
import secrets
import tempfile
import threading
import time
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ..context import Context
from ..result import SuiteResult
from ..serving import SESSION_OUTPUT, start_app
from ..stats import percentiles

SESSIONS = 20
HEAVY_EVERY = 4                # every fourth shopper asks for an explanation
ALONE = 5                      # shoppers in turn for the 'alone' figures
PINGS = 10                     # no-op calls per caller for the floor's throughput
TURNS = (("chat: search", None), ("chat: filter", "only black ones"),
         ("chat: similar", "more like the second one"))
KINDS = ("tshirts for men", "backpacks", "sports shoes", "watches for women")
NON_LLM = ("chat: search", "chat: filter", "chat: similar")


class Caller:
    """One shopper's HTTP client (one browser page); ``call`` records (kind, first chunk s, total s, error)."""

    def __init__(self, url: str, log: list, lock: threading.Lock):
        import httpx

        self.http = httpx.Client(base_url=url, timeout=300)
        self.page = secrets.token_hex(8)          # Gradio's session hash: one per page, as a browser's
        self.log, self.lock = log, lock

    def call(self, kind: str, api: str, data: list) -> list | None:
        start, first, out, error = time.perf_counter(), None, None, None
        try:
            event = self.http.post(f"gradio_api/call/{api}", json={"data": data, "session_hash": self.page})
            event.raise_for_status()
            name = None
            with self.http.stream("GET", f"gradio_api/call/{api}/{event.json()['event_id']}") as r:
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                        if first is None and name in ("generating", "complete"):
                            first = time.perf_counter() - start
                    elif line.startswith("data:") and name in ("generating", "complete"):
                        out = json.loads(line[5:])
                    elif line.startswith("data:") and name == "error":
                        error = f"{api}: {line[5:].strip()[:200]}"
            if out is None and error is None:
                error = f"{api}: no answer"
            elif api == "chat" and out[0][-1]["content"][0]["text"].startswith("Sorry"):
                error = out[0][-1]["content"][0]["text"]
        except Exception as exc:                 # any failure is counted, never hidden
            error = f"{type(exc).__name__}: {exc}"
        self.record(kind, first, time.perf_counter() - start, error)
        return None if error else out

    def photos(self, out: list) -> None:
        """Fetch the answer's product photos (the gallery's files), as a browser does."""
        start, error = time.perf_counter(), None
        try:
            for item in out[1] or []:
                self.http.get(item["image"]["url"]).raise_for_status()
        except Exception as exc:
            error = f"photos: {type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        self.record("photos", seconds, seconds, error)

    def record(self, kind: str, first: float | None, total: float, error: str | None) -> None:
        with self.lock:
            self.log.append((kind, total if first is None else first, total, error))


def session(url: str, n: int, heavy: bool, log: list, lock: threading.Lock) -> None:
    """One shopper's conversation, searches and a ping."""
    caller, token = Caller(url, log, lock), None
    for kind, text in TURNS:
        out = caller.call(kind, "chat", [text or KINDS[n % len(KINDS)], None, token])
        if out:
            token = out[SESSION_OUTPUT]
            caller.photos(out)
    if heavy:
        caller.call("chat: why (LLM)", "chat", ["why the first one?", None, token])
    for q in ("navy blue shirt", "red handbag"):
        caller.call("search", "search", [q, 6, "", "", "", 0])
    caller.call("ping", "ping", [])


def in_parallel(target, count: int, *args) -> list:
    log, lock = [], threading.Lock()
    threads = [threading.Thread(target=target, args=(*args, n, log, lock)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return log


def shoppers(url: str, n: int, log: list, lock: threading.Lock) -> None:
    session(url, n, n % HEAVY_EVERY == 0, log, lock)


def pinger(url: str, n: int, log: list, lock: threading.Lock) -> None:
    caller = Caller(url, log, lock)
    for _ in range(PINGS):
        caller.call("ping", "ping", [])


def agent_seconds(index_dir: str) -> list[float]:
    """The agent's own time for the conversation's turns, in this process on the same index."""
    from agent import ShoppingAgent
    from retrieval import Searcher

    searcher = Searcher(index_dir)
    seconds = []
    for n in range(ALONE + 1):
        agent = ShoppingAgent(searcher, explanations="template")
        for _, text in TURNS:
            start = time.perf_counter()
            agent.turn(text or KINDS[n % len(KINDS)])
            if n:                                          # the first round warms up
                seconds.append(time.perf_counter() - start)
    return seconds


def run(ctx: Context) -> SuiteResult:
    from retrieval import ensure_demo_index

    index_dir = str(ctx.index_dir or ensure_demo_index())
    own = percentiles(agent_seconds(index_dir), (50, 95))
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_app(index_dir, f"{tmp}/ratings.sqlite")
        try:
            in_parallel(shoppers, 1, url)                               # warm-up: models loaded
            alone, lock = [], threading.Lock()
            for n in range(ALONE):
                session(url, n, True, alone, lock)
            start = time.perf_counter()
            floor = in_parallel(pinger, SESSIONS, url)
            floor_rate = len(floor) / (time.perf_counter() - start)
            start = time.perf_counter()
            loaded = in_parallel(shoppers, SESSIONS, url)
            wall = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(30)
    return summarise(ctx, index_dir, own, alone, loaded, wall, floor, floor_rate)


def summarise(ctx, index_dir, own, alone, loaded, wall, floor, floor_rate) -> SuiteResult:
    by_kind: dict[str, dict[str, list]] = defaultdict(lambda: {"alone": [], "load": [], "first": []})
    for name, log in (("alone", alone), ("load", loaded)):
        for kind, first, total, _ in log:
            by_kind[kind][name].append(total)
            if name == "load":
                by_kind[kind]["first"].append(first)
    errors = [e for *_, e in loaded + alone + floor if e]
    metrics, rows = {}, []
    for kind in sorted(by_kind):
        a, b = percentiles(by_kind[kind]["alone"], (50, 95)), percentiles(by_kind[kind]["load"], (50, 95))
        f = percentiles(by_kind[kind]["first"], (50, 95))
        metrics[kind] = {"alone": a, "under load": b, "first chunk under load": f,
                         "requests": len(by_kind[kind]["load"])}
        rows.append([kind, len(by_kind[kind]["load"]), f"{a['p50']:.3f}", f"{f['p50']:.3f}",
                     f"{b['p50']:.3f}", f"{b['p95']:.3f}", f"{b['p50'] / a['p50']:.1f}x"])
    ping = by_kind["ping"]["alone"]
    floor_p50 = percentiles(ping, (50,))["p50"]
    chat_alone = percentiles([s for k in NON_LLM for s in by_kind[k]["alone"]], (50, 95))
    chat_load = percentiles([s for k in NON_LLM for s in by_kind[k]["load"]], (50, 95))
    budget = 2 * floor_p50 + own["p50"]
    metrics.update({
        "floor (ping alone, s)": floor_p50, "agent's own turn (s)": own,
        "chat turn alone (s)": chat_alone, "chat turn budget: 2 x floor + agent (s)": budget,
        "chat turns under load (s)": chat_load, "errors": len(errors),
        "error examples": errors[:5], "requests under load": len(loaded),
        "throughput under load (requests/s)": len(loaded) / wall,
        "floor throughput (pings/s, same callers)": floor_rate})

    plot = "load.png"
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    kinds = sorted(by_kind)
    ax.boxplot([by_kind[k]["load"] for k in kinds], showfliers=True)
    ax.set_xticks(range(1, len(kinds) + 1), kinds, fontsize=7, rotation=15)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (log scale)")
    ax.set_title(f"{SESSIONS} concurrent shoppers: whole answer per request kind")
    fig.tight_layout()
    fig.savefig(ctx.out / plot, dpi=120)
    plt.close(fig)
    return SuiteResult(
        "load",
        {"sessions": SESSIONS, "explaining sessions": len(range(0, SESSIONS, HEAVY_EVERY)),
         "alone": f"{ALONE} shoppers in turn", "index": index_dir, "wall_s_load": round(wall, 2)},
        ["request", "n under load", "p50 alone s", "first chunk p50 load s", "p50 load s",
         "p95 load s", "p50 ratio"],
        rows, metrics,
        notes=[f"chat turn (search, filter, similar) alone: p50 {chat_alone['p50']:.3f} s against a budget "
               f"of 2 x floor + agent = 2 x {floor_p50:.3f} + {own['p50']:.3f} = {budget:.3f} s "
               f"(the agent's own time: the same turns in the suite's process)",
               f"under load ({SESSIONS} shoppers): chat turns p95 {chat_load['p95']:.3f} s (target 1.5), "
               f"searches p95 {metrics['search']['under load']['p95']:.3f} s (target 0.5)",
               f"errors: {len(errors)} of {len(loaded) + len(alone) + len(floor)} requests"
               + (f" (e.g. {errors[0][:120]})" if errors else ""),
               f"throughput under load: {len(loaded) / wall:.1f} requests/s; the floor (no-op calls "
               f"by the same number of callers): {floor_rate:.1f} requests/s"],
        plots=[plot])
