"""The shopping agent on generated conversations.

Each conversation starts from a random catalogue product (its article type, gender and colour)
and goes on for ``TURNS`` turns drawn from templates of every intent, with the expected intent
and the product each reference should resolve to (read from the agent's own screen before the
turn: "the second one" is what it showed second). A share of turns are paraphrases the keyword
parser is not written for ("got anything that would go with this?"), where an LLM planner can help.

Reported per planner (``parser``; ``model``: the trained turn model; ``auto``: the model, LLM for
turns it is unsure of; ``llm``: LLM first, parser fallback): intent accuracy (templated and
paraphrased turns), tool-call validity (the call names a tool, its arguments follow the schema and
its references resolve), reference-resolution accuracy, who decided the turns, and turn latency
p50/p95; ``parser``, ``model`` and ``auto`` over ``N_CONVERSATIONS`` conversations, ``llm`` over
the first ``LLM_FIRST`` of them. Explanations are template-built here (their LLM latency is the
``explanations`` suite's).
"""
from __future__ import annotations

import time
from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from agent.assistant import ShoppingAgent
from explain.evidence import Explainer
from retrieval import Searcher
from runtime import get_llm

from ..context import Context
from ..result import SuiteResult
from ..stats import mean_ci, percentiles

N_CONVERSATIONS = 100
LLM_FIRST = 30                   # conversations planned LLM-first (~2 s a turn on 2 cores)
TURNS = 8
ORDINAL_WORDS = ["first", "second", "third", "fourth", "fifth", "sixth"]


def turn_templates(p, other_colour: str, rng) -> list[tuple[str, str, object]]:
    """(utterance, expected intent, reference) candidates after the opening search; a reference
    is ("shown", i), "focus", ("pair", i, j) or None."""
    i = int(rng.integers(0, 4))
    j = int(rng.integers(i + 1, 6))
    nth = ORDINAL_WORDS[i]
    colour = other_colour.lower()
    return [
        (f"only {p.colour.lower()} ones" if p.colour else "only for " + (p.gender or "men").lower(),
         "filter", None),
        (f"the {nth} one", "select", ("shown", i)),
        (f"show me #{i + 1}", "select", ("shown", i)),
        (f"like the {nth} one but in {colour}", "refine", ("shown", i)),
        (f"more like the {nth} one", "similar_to", ("shown", i)),
        (f"what goes with the {nth} one?", "complete_look", ("shown", i)),
        (f"why the {nth} one?", "explain", ("shown", i)),
        (f"compare the {nth} and the {ORDINAL_WORDS[j]}", "compare", ("pair", i, j)),
        (f"show me the group of the {nth} one", "show_cluster", ("shown", i)),
        (f"not the {nth} one", "exclude", ("shown", i)),
        ("recommend something for me", "recommend_for_user", None),
        # paraphrases the keyword parser is not written for
        (f"got anything that would look good with the {nth} one?", "complete_look", ("shown", i)),
        (f"what makes the {nth} one a good pick?", "explain", ("shown", i)),
        (f"I'd rather see stuff that resembles the {nth} one", "similar_to", ("shown", i)),
        (f"nah, I really dislike the {nth} one", "exclude", ("shown", i)),
    ]


PARAPHRASED = 4                      # the last templates above


def conversation(p, other_colour: str, rng) -> list[tuple[str, str, object, bool]]:
    """The turns of one conversation: (utterance, intent, reference, paraphrased)."""
    gender = f" for {p.gender.lower()}" if p.gender in ("Men", "Women", "Boys", "Girls") else ""
    opening = rng.choice([f"show me {p.article_type.lower()}{gender}",
                          f"I'm looking for {(p.colour or '').lower()} {p.article_type.lower()}",
                          f"find {p.article_type.lower()}{gender}"])
    turns = [(" ".join(opening.split()), "search", None, False)]
    templates = turn_templates(p, other_colour, rng)
    for _ in range(TURNS - 2):
        t = rng.integers(len(templates))
        text, intent, ref = templates[t]
        turns.append((text, intent, ref, t >= len(templates) - PARAPHRASED))
        templates = turn_templates(p, other_colour, rng)
    turns.append(("start over", "reset", None, False))
    return turns


def expected_ids(ref, state) -> list[str] | None:
    if ref is None:
        return None
    if ref[0] == "shown":
        return [state.shown[ref[1]]] if ref[1] < len(state.shown) else None
    if ref[0] == "pair":
        return [state.shown[ref[1]], state.shown[ref[2]]] if ref[2] < len(state.shown) else None
    return None


def resolved_ids(run) -> list[str]:
    r = run.resolved
    if "products" in r:
        return r["products"]
    return [r["product"]] if "product" in r else []


def play(agent: ShoppingAgent, turns) -> list[dict]:
    rows = []
    for text, intent, ref, paraphrased in turns:
        want = expected_ids(ref, agent.state)
        start = time.perf_counter()
        answer = agent.turn(text)
        seconds = time.perf_counter() - start
        runs = answer.trace.tools
        intent_ok = answer.trace.intent == intent
        rows.append({"intent_ok": intent_ok, "paraphrased": paraphrased,
                     "valid": [r.ok for r in runs], "errors": [r.error for r in runs if not r.ok],
                     "ref_ok": None if want is None or not intent_ok else
                     bool(runs) and resolved_ids(runs[0]) == want,
                     "decided_by": answer.trace.decided_by.split(" ")[0] +
                     (" fallback" if "fallback" in answer.trace.decided_by else ""),
                     "seconds": seconds})
    return rows


def run(ctx: Context) -> SuiteResult:
    n = 12 if ctx.quick else N_CONVERSATIONS
    counts = {"parser": n, "model": n, "auto": 3 if ctx.quick else n, "llm": 3 if ctx.quick else LLM_FIRST}
    searcher = Searcher(ctx.index, ctx.encoder)
    _ = searcher.clusters                                  # fitted once, outside the timings
    products = [p for p in ctx.catalog.products if p.article_type and p.has_image]
    colours = Counter(p.colour for p in products if p.colour)
    rng = np.random.default_rng(ctx.seed)
    scripts = []
    for row in rng.choice(len(products), size=n, replace=False):
        p = products[row]
        other = [c for c, _ in colours.most_common(12) if c != p.colour]
        scripts.append(conversation(p, other[rng.integers(len(other))], rng))
    llm = get_llm()
    explainer = Explainer(searcher)
    results = {}
    for mode, count in counts.items():
        rows = []
        for turns in tqdm(scripts[:count], desc=f"conversations ({mode})", unit="conv"):
            agent = ShoppingAgent(searcher, planner=mode, explanations="template", llm=llm,
                                  explainer=explainer)
            rows += play(agent, turns)
        results[mode] = rows

    metrics, table = {}, []
    for mode, rows in results.items():
        plain = [r["intent_ok"] for r in rows if not r["paraphrased"]]
        para = [r["intent_ok"] for r in rows if r["paraphrased"]]
        valid = [v for r in rows for v in r["valid"]]
        refs = [r["ref_ok"] for r in rows if r["ref_ok"] is not None]
        lat = percentiles([r["seconds"] for r in rows], (50, 95))
        m = {"conversations": counts[mode], "turns": len(rows),
             "intent accuracy": mean_ci([r["intent_ok"] for r in rows]),
             "intent accuracy, templated": mean_ci(plain),
             "intent accuracy, paraphrased": mean_ci(para),
             "tool-call validity": mean_ci(valid), "reference accuracy": mean_ci(refs),
             "reference turns": len(refs),
             "decided by": dict(Counter(r["decided_by"] for r in rows)),
             "failed calls": dict(Counter(e[:80] for r in rows for e in r["errors"]).most_common(5)),
             "turn latency (s)": lat}
        metrics[mode] = m
        fmt = lambda v: f"{v[0]:.3f} ± {v[1]:.3f}"
        table.append([mode, m["turns"], fmt(m["intent accuracy"]), fmt(m["intent accuracy, templated"]),
                      fmt(m["intent accuracy, paraphrased"]), fmt(m["tool-call validity"]),
                      fmt(m["reference accuracy"]), f"{lat['p50']:.3f}", f"{lat['p95']:.3f}"])

    failures = [f"{mode} failed calls: " + "; ".join(f"{k} ({v}x)" for k, v in m["failed calls"].items())
                for mode, m in metrics.items() if m["failed calls"]]
    plot = "agent.png"
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for mode, rows in results.items():
        secs = np.sort([r["seconds"] for r in rows])
        ax.plot(secs, np.arange(1, len(secs) + 1) / len(secs), label=mode)
    ax.set_xscale("log")
    ax.set_xlabel("turn latency (s, log scale)")
    ax.set_ylabel("share of turns")
    ax.set_title("Agent turn latency by planner")
    ax.legend()
    fig.tight_layout()
    fig.savefig(ctx.out / plot, dpi=120)
    plt.close(fig)
    return SuiteResult(
        "agent",
        {"items": len(ctx.catalog.products), "conversations": counts,
         "turns per conversation": TURNS, "seed": ctx.seed, "explanations": "template",
         "llm": str(llm.path.name)},
        ["planner", "turns", "intent acc", "templated", "paraphrased", "valid calls",
         "reference acc", "p50 s", "p95 s"],
        table, metrics,
        notes=["Intent accuracy: the agent's intent equals the script's. Valid calls: tool known, "
               "arguments valid against its JSON schema, references resolved. Reference accuracy: "
               "over turns whose reference names a product on screen and whose intent was "
               "recognised (the product the tool acted on is the one meant).",
               "model: the trained turn model decides the intent; auto runs the LLM only for turns "
               "the model is unsure of; llm plans every turn with the LLM and falls back to the "
               "parser when it fails.", *failures],
        plots=[plot])
