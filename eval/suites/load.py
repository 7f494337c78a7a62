"""The served app under concurrent shoppers, through its public API (gradio_client).

The app runs as its own process (``python -m ui``) on the index given with ``--index`` (else the
demo index). First one session alone (the baseline of the same run), then ``SESSIONS`` sessions
at once, each a short conversation over the ``/chat`` endpoint (a search, a filter, "more like the
second one") and two ``/search`` calls; a quarter of them also ask "why the first one?" (Grad-CAM,
word attributions and the LLM), so search latency is measured with explanations in flight.
Reported: latency p50/p95 per request kind, alone and under load, and errors (an exception or an
error message from the app).
"""
from __future__ import annotations

import tempfile
import threading
import time
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ..context import Context
from ..serving import SESSION_OUTPUT, start_app
from ..stats import percentiles
from . import SuiteResult

SESSIONS = 20
HEAVY_EVERY = 4                # every fourth session asks for an explanation


def session(url: str, n: int, heavy: bool, log: list, lock: threading.Lock) -> None:
    """One shopper: records (kind, seconds, error or None)."""
    from gradio_client import Client

    def timed(kind, fn):
        start = time.perf_counter()
        error = None
        try:
            out = fn()
            if kind != "search":
                text = out[0][-1]["content"][0]["text"]
                if text.startswith("Sorry"):
                    error = text
        except Exception as exc:                 # any failure is counted, never hidden
            error = f"{type(exc).__name__}: {exc}"
        with lock:
            log.append((kind, time.perf_counter() - start, error))
        return None if error else out

    client = Client(url, verbose=False)
    kinds = ["tshirts for men", "backpacks", "sports shoes", "watches for women"]
    token = None                          # the conversation, kept by the app under this token
    for text, kind in ((kinds[n % len(kinds)], "chat: search"), ("only black ones", "chat: filter"),
                       ("more like the second one", "chat: similar")):
        out = timed(kind, lambda text=text, token=token: client.predict(
            text, None, token, api_name="/chat"))
        if out:
            token = out[SESSION_OUTPUT]
    if heavy:
        timed("chat: why", lambda: client.predict("why the first one?", None, token,
                                                  api_name="/chat"))
    for q in ("navy blue shirt", "red handbag"):
        timed("search", lambda q=q: client.predict(q, 6, api_name="/search"))


def run_sessions(url: str, count: int) -> list:
    log, lock = [], threading.Lock()
    threads = [threading.Thread(target=session, args=(url, n, n % HEAVY_EVERY == 0, log, lock))
               for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return log


def run(ctx: Context) -> SuiteResult:
    index_dir = ctx.index_dir
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_app(index_dir, f"{tmp}/ratings.sqlite")
        try:
            run_sessions(url, 1)                                  # warm-up: models loaded
            alone = run_sessions(url, 1)
            start = time.perf_counter()
            loaded = run_sessions(url, SESSIONS)
            wall = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(30)
    by_kind: dict[str, dict[str, list]] = defaultdict(lambda: {"alone": [], "load": []})
    for name, log in (("alone", alone), ("load", loaded)):
        for kind, seconds, _ in log:
            by_kind[kind][name].append(seconds)
    errors = [e for _, _, e in loaded + alone if e]
    metrics, rows = {}, []
    for kind in sorted(by_kind):
        a = percentiles(by_kind[kind]["alone"], (50, 95))
        b = percentiles(by_kind[kind]["load"], (50, 95))
        metrics[kind] = {"alone": a, "under load": b, "requests": len(by_kind[kind]["load"])}
        rows.append([kind, len(by_kind[kind]["load"]), f"{a['p50']:.3f}", f"{b['p50']:.3f}",
                     f"{b['p95']:.3f}", f"{b['p50'] / a['p50']:.1f}x"])
    metrics["errors"] = len(errors)
    metrics["error examples"] = errors[:5]
    metrics["requests"] = len(loaded)
    metrics["throughput (requests/s)"] = len(loaded) / wall

    plot = "load.png"
    fig, ax = plt.subplots(figsize=(7, 3.5))
    kinds = sorted(by_kind)
    ax.boxplot([by_kind[k]["load"] for k in kinds], showfliers=True)
    ax.set_xticks(range(1, len(kinds) + 1), kinds, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (log scale)")
    ax.set_title(f"{SESSIONS} concurrent sessions: latency per request kind")
    fig.tight_layout()
    fig.savefig(ctx.out / plot, dpi=120)
    plt.close(fig)
    return SuiteResult(
        "load",
        {"sessions": SESSIONS, "explaining sessions": len(range(0, SESSIONS, HEAVY_EVERY)),
         "index": index_dir or "demo index", "wall_s_load": round(wall, 2)},
        ["request", "n under load", "p50 alone s", "p50 load s", "p95 load s", "p50 ratio"],
        rows, metrics,
        notes=[f"errors: {len(errors)} of {len(loaded) + len(alone)} requests"
               + (f" (e.g. {errors[0][:120]})" if errors else ""),
               f"throughput under load: {len(loaded) / wall:.1f} requests/s; 'alone' is one session "
               "by itself in the same run, after a warm-up session."],
        plots=[plot])
