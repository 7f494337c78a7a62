"""The chat agent on hand-written conversations, and composed queries through the chat.

``eval/data/dialogue_test.txt`` holds conversations written by hand, apart from the turn model's
training templates (``agent/phrasings.py``), each turn with the intent a shopper means, the
slots it names, the products it refers to and checks of what must be shown. Every planner plays
every conversation on the catalogue index (``llm`` the first ``LLM_FIRST``); a turn succeeds when
all its checks hold, a conversation when all its turns do.

Reported per planner: intent accuracy, slot precision / recall / F1, reference accuracy, turn and
conversation success (95% intervals: normal approximation for shares, bootstrap over
conversations for slot scores) and understanding latency p50 / p95 (the planning step of a turn).
Test turns that equal a training phrasing once catalogue values and numbers are taken out are
counted, and the other ("unseen") turns scored apart. ``dialogue_dev.txt`` is the set the
templates were tuned against; it is not scored here. Then the ``composed`` suite's queries (a
reference product, a new colour, fabric, pattern or sleeve) asked through the chat with the
reference in focus, against ``Searcher.composed`` on the same index: Hit@10 and P@10 side by side."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from agent import TOOLS, ShoppingAgent
from agent.phrasings import phrasings
from explain.evidence import Explainer
from retrieval import Searcher, Vocabulary
from retrieval import metrics as M
from runtime import get_llm

from ..context import Context
from ..result import SuiteResult
from ..stats import mean_ci
from .agent import resolved_ids
from .composed import make_queries, value_of

TEST_SET = Path(__file__).resolve().parent.parent / "data" / "dialogue_test.txt"
INTENTS = {*TOOLS, "help"}
LLM_FIRST = 20                     # conversations planned LLM-first (~2 s a turn on 2 cores)
COMPOSED_QUERIES = 200
K = 10
TARGETS = {"turn success": 0.90, "intent accuracy": 0.95, "understanding p95 ms": 100,
           "composed through chat within": 0.05}
FIELDS = {"type": "article_type", "gender": "gender", "colour": "colour", "category": "subcategory",
          "usage": "usage"}
MENTIONS = {"fabric": ("fabric", "material"), "pattern": ("pattern", "print or pattern type"),
            "sleeve": ("sleeve length",)}
# How a shopper asks the composed suite's edits with the reference on screen (several shapes).
COMPOSED_ASKS = {"colour": ("do you have this in {v}?", "a {v} one like this", "same but {v} please"),
                 "fabric": ("is there a {v} one like this?", "this in {v}?", "same style in {v}"),
                 "pattern": ("got this {v}?", "a {v} version of it", "like this but {v}"),
                 "sleeve": ("can I get this with {v}?", "same one with {v}", "this but {v}")}


CHECK = re.compile(r"cards=0|cards>0|need=none|says~\S+|(?:shows|hides)=@\w+(?:,@\w+)*|"
                   r"price(?:<=|>=)\d+|(?:type|gender|colour|category|usage)=\S+|(?:fabric|pattern|sleeve)~\S+")
REF = re.compile(r"@(?:focus|\d+)(?:,@(?:focus|\d+))*")


@dataclass
class Turn:
    text: str
    intent: str
    refs: list[str]
    slots: set[tuple[str, str]]
    checks: list[str]


@dataclass
class Script:
    title: str
    styles: list[str]
    turns: list[Turn] = field(default_factory=list)


def words(token: str) -> str:
    return token.replace("_", " ")


def load_test_set(path: Path = TEST_SET) -> list[Script]:
    """The conversations of ``path``; a malformed line raises ``ValueError`` naming it."""
    scripts, text = [], None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or (line.startswith("#") and not line.startswith("## ")):
            continue
        if line.startswith("## "):
            title, _, styles = line[3:].partition("|")
            scripts.append(Script(title.strip(), [s.strip() for s in styles.split(",") if s.strip()]))
        elif line.startswith("> "):
            text = line[2:].strip()
        else:
            parts = [p.strip() for p in line.split("|")]
            if text is None or not scripts or len(parts) != 3:
                raise ValueError(f"{path}:{n}: expected '<intent> [@refs] | <slots> | <checks>' after a '> ' line")
            head = parts[0].split()
            bad = [t for t in parts[2].split() if not CHECK.fullmatch(t)] + \
                [t for t in head[1:] if not REF.fullmatch(t)] + \
                [t for t in parts[1].split() if t != "-" and "=" not in t]
            if bad or head[0] not in INTENTS:
                raise ValueError(f"{path}:{n}: not understood: {bad or head[0]}")
            refs = head[1][1:].replace("@", "").split(",") if len(head) > 1 else []
            slots = {(f, words(v)) for token in parts[1].split() if token != "-"
                     for f, values in [token.split("=", 1)] for v in values.split("/")}
            scripts[-1].turns.append(Turn(text, head[0], refs, slots, parts[2].split()))
            text = None
    return scripts


def check_refs(token: str) -> list[str]:
    """The refs a shows= / hides= check names ("shows=@1,@focus" -> ["1", "focus"])."""
    return token[6:].replace("@", "").split(",") if token.startswith(("shows=", "hides=")) else []


def listed(value) -> list:
    """One value or several as a list."""
    return [value] if isinstance(value, str) else list(value or [])


def named_refs(turn: Turn) -> list[str]:
    """Every ref a turn names, in its head and in its checks ("hides=@focus")."""
    return list(dict.fromkeys(turn.refs + [r for t in turn.checks for r in check_refs(t)]))


def expected_ref(ref: str, state) -> str | None:
    """The product a ref names on the screen before the turn (None: nothing there)."""
    if ref == "focus":
        return state.focus
    return state.shown[int(ref) - 1] if int(ref) - 1 < len(state.shown) else None


def predicted_slots(run, vocabulary: Vocabulary) -> set[tuple[str, str]]:
    """The slots a tool call carries, in the test set's names."""
    if run is None:
        return set()
    args, out = run.args, set()
    names = {"article_type": "type", "gender": "gender", "colour": "colour"}
    for name, slot in names.items():
        out |= {(slot, v) for v in listed(args.get(name))}
    for bound in ("price_min", "price_max"):
        if args.get(bound) is not None:
            out.add((bound, f"{float(args[bound]):g}"))
    if run.name == "complete_look":
        types = vocabulary.values("article_type")
        out |= {("type" if v in types else "category", v) for v in listed(args.get("category"))}
    if run.name == "refine":
        mod = vocabulary.parse(args.get("modifier", ""))
        for f, v in mod.values.items():
            slot = {"article_type": "type"}.get(f, f)
            out |= {(slot, x) for x in listed(v)}
        if mod.price in ("cheaper", "pricier"):
            out.add(("price", mod.price))
    return out


def mentions(product, kind: str, word: str) -> bool:
    names = MENTIONS[kind]
    attrs = " ".join(v for k, v in (product.attributes or {}).items() if k.lower() in names)
    return word.lower() in f"{attrs} {product.title}".lower()


def check(token: str, answer, products: list, want_refs: dict[str, str]) -> bool:
    """Whether one check holds for an answer; ``products`` are its cards' products."""
    ids = [c.id for c in answer.cards]
    if token == "cards=0":
        return not ids
    if token == "cards>0":
        return bool(ids)
    if token == "need=none":
        return not answer.trace.need
    if token.startswith("says~"):
        return re.search(words(token[5:]), answer.message, re.IGNORECASE) is not None
    if token.startswith(("shows=", "hides=")):
        refs = [want_refs.get(r) for r in check_refs(token)]
        if any(r is None for r in refs):
            return False
        return all(r in ids for r in refs) if token.startswith("shows") else all(r not in ids for r in refs)
    if not products:
        return False
    if m := re.fullmatch(r"price(<=|>=)(\d+)", token):
        bound = float(m.group(2))
        return all(p.price is not None and (p.price <= bound if m.group(1) == "<=" else p.price >= bound)
                   for p in products)
    name, op, value = re.fullmatch(r"(\w+)([=~])(.+)", token).groups()
    if op == "~":
        return all(mentions(p, name, words(value)) for p in products)
    allowed = {words(v) for v in value.split("/")}
    return all(getattr(p, FIELDS[name]) in allowed for p in products)


def play(agent: ShoppingAgent, script: Script, vocabulary: Vocabulary, seen: Delexicalised) -> list[dict]:
    """Each turn's outcome; ``seen``: its phrasing equals a training one."""
    rows = []
    for turn in script.turns:
        refs_before = {r: expected_ref(r, agent.state) for r in named_refs(turn)}
        want = [refs_before[r] for r in turn.refs]
        answer = agent.turn(turn.text)
        run = answer.trace.tools[0] if answer.trace.tools else None
        got = resolved_ids(run) if run and run.resolved else []
        index = agent.searcher.index
        products = [index.product(c.id) for c in answer.cards if c.id in index]
        predicted = predicted_slots(run, vocabulary)
        ok = all(check(t, answer, products, refs_before) for t in turn.checks)
        rows.append({"want": turn.intent, "intent": answer.trace.intent,
                     "intent_ok": answer.trace.intent == turn.intent,
                     "tp": len(predicted & turn.slots), "fp": len(predicted - turn.slots),
                     "fn": len(turn.slots - predicted),
                     "ref_ok": None if not turn.refs else (None not in want and got == want),
                     "success": ok, "ms": answer.trace.planning_seconds * 1000,
                     "decided_by": answer.trace.decided_by.split(" ")[0], "seen": seen(turn.text)})
    return rows


def slot_scores(rows: list[dict]) -> tuple[float, float, float]:
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def bootstrap(by_conv: list[list[dict]], fn, n: int = 1000, seed: int = 0) -> float:
    """Half-width of the 95% bootstrap interval of ``fn(rows)`` over conversations."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        pick = rng.integers(0, len(by_conv), len(by_conv))
        values.append(fn([r for i in pick for r in by_conv[i]]))
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float((hi - lo) / 2)


class Delexicalised:
    """Whether a text equals a training phrasing once catalogue values and numbers are taken out
    (fragments like "the 2nd", "thanks", "black ones" often do)."""

    def __init__(self, vocabulary: Vocabulary):
        self.vocabulary = vocabulary
        self.train = {self.key(p.text) for p in phrasings()}

    def key(self, text: str) -> str:
        return self.vocabulary.without_values(re.sub(r"[\d#?!.,]+", " ", text.lower())).strip()

    def __call__(self, text: str) -> bool:
        return self.key(text) in self.train


def composed_through_chat(ctx: Context, searcher: Searcher, explainer: Explainer, n: int) -> dict:
    """Hit@10 / P@10 of the composed queries asked in the chat vs ``Searcher.composed``."""
    products = ctx.catalog.products
    atype = np.array([p.article_type or "" for p in products], dtype=object)
    gender = np.array([p.gender or "" for p in products], dtype=object)
    row_of = {p.id: i for i, p in enumerate(products)}
    rel = {"API (Searcher.composed)": [], "chat (model planner)": []}
    n_rel, understood = [], []
    for q, (row, edit, value) in enumerate(tqdm(make_queries(ctx, n), desc="composed via chat", unit="q")):
        ref = products[row]
        relevant = (atype == (ref.article_type or "")) & (gender == (ref.gender or "")) & np.array(
            [value_of(p, edit) == value for p in products])
        relevant[row] = False
        n_rel.append(int(relevant.sum()))
        ask = COMPOSED_ASKS[edit][q % len(COMPOSED_ASKS[edit])].format(v=value.lower())
        api = searcher.composed(ask, item=ref.id, k=K, exclude=[ref.id]).results
        agent = ShoppingAgent(searcher, planner="model", explanations="template", k=K, explainer=explainer)
        agent.state.show([ref.id], [1.0])                   # the shopper opened the product
        agent.state.look_at(ref.id)
        answer = agent.turn(ask)
        understood.append(answer.trace.intent == "refine")
        for name, ids in (("API (Searcher.composed)", [r.id for r in api]),
                          ("chat (model planner)", [c.id for c in answer.cards])):
            hits = [bool(relevant[row_of[i]]) for i in ids[:K] if i in row_of]
            rel[name].append(hits + [False] * (K - len(hits)))
    n_rel = np.array(n_rel)
    out = {"queries": len(n_rel), "understood as a refinement": float(np.mean(understood))}
    for name, r in rel.items():
        r = np.array(r)
        out[name] = {"Hit@10": mean_ci(M.hit(r, n_rel, K)), "P@10": mean_ci(M.precision(r, K))}
    return out


def run(ctx: Context) -> SuiteResult:
    scripts = load_test_set()
    searcher = Searcher(ctx.index, ctx.encoder)
    _ = searcher.clusters                                  # fitted once, outside the timings
    vocabulary = searcher.vocabulary
    seen = Delexicalised(vocabulary)
    llm, explainer = get_llm(), Explainer(searcher)
    counts = {"parser": len(scripts), "model": len(scripts), "auto": len(scripts),
              "llm": 3 if ctx.quick else LLM_FIRST}
    results: dict[str, list[list[dict]]] = {}
    for mode, count in counts.items():
        by_conv = []
        for script in tqdm(scripts[:count], desc=f"conversations ({mode})", unit="conv"):
            agent = ShoppingAgent(searcher, planner=mode, explanations="template", llm=llm,
                                  explainer=explainer)
            by_conv.append(play(agent, script, vocabulary, seen))
        results[mode] = by_conv
    table, metrics = [], {"conversations": len(scripts),
                          "turns": sum(len(s.turns) for s in scripts), "planners": {}}
    for mode, by_conv in results.items():
        rows = [r for conv in by_conv for r in conv]
        intent = mean_ci([r["intent_ok"] for r in rows])
        refs = [r["ref_ok"] for r in rows if r["ref_ok"] is not None]
        ref = mean_ci(refs)
        success = mean_ci([r["success"] for r in rows])
        conv = mean_ci([all(r["success"] for r in c) for c in by_conv])
        p, r_, f1 = slot_scores(rows)
        f1_ci = bootstrap(by_conv, lambda rs: slot_scores(rs)[2])
        ms = np.array([r["ms"] for r in rows])
        unseen = [r for r in rows if not r["seen"]]
        m = {"conversations": len(by_conv), "turns": len(rows), "intent accuracy": intent,
             "unseen phrasings": {"turns": len(unseen),
                                  "intent accuracy": mean_ci([r["intent_ok"] for r in unseen]),
                                  "turn success": mean_ci([r["success"] for r in unseen])},
             "slot precision": p, "slot recall": r_, "slot F1": (f1, f1_ci), "reference accuracy": ref,
             "turn success": success, "conversation success": conv,
             "understanding ms": {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95))},
             "decided by": {k: sum(r["decided_by"] == k for r in rows) for k in
                            sorted({r["decided_by"] for r in rows})},
             "confusions": dict(Counter(f"{r['want']} -> {r['intent']}" for r in rows
                                        if not r["intent_ok"]).most_common(8))}
        metrics["planners"][mode] = m
        table.append([mode, f"{len(by_conv)}/{len(rows)}", f"{intent[0]:.3f}±{intent[1]:.3f}",
                      f"{p:.3f}/{r_:.3f}/{f1:.3f}±{f1_ci:.3f}", f"{ref[0]:.3f}±{ref[1]:.3f}",
                      f"{success[0]:.3f}±{success[1]:.3f}",
                      f"{m['unseen phrasings']['intent accuracy'][0]:.3f} / "
                      f"{m['unseen phrasings']['turn success'][0]:.3f}", f"{conv[0]:.3f}±{conv[1]:.3f}",
                      f"{m['understanding ms']['p50']:.1f} / {m['understanding ms']['p95']:.1f}"])
    flags = [r["seen"] for conv in results["parser"] for r in conv]
    same, total = int(sum(flags)), len(flags)
    metrics["test turns equal to a training phrasing"] = [same, total]
    composed = composed_through_chat(ctx, searcher, explainer, 40 if ctx.quick else COMPOSED_QUERIES)
    metrics["composed"] = composed
    for name in ("API (Searcher.composed)", "chat (model planner)"):
        h, pk = composed[name]["Hit@10"], composed[name]["P@10"]
        table.append([f"composed: {name}", f"{composed['queries']} queries", "", "", "",
                      f"Hit@10 {h[0]:.3f}±{h[1]:.3f}", f"P@10 {pk[0]:.3f}±{pk[1]:.3f}", "", ""])
    plot = "dialogue.png"
    fig, ax = plt.subplots(figsize=(8, 3.2))
    shown = ("intent accuracy", "reference accuracy", "turn success", "conversation success")
    width = 0.8 / len(results)
    for i, mode in enumerate(results):
        ax.bar(np.arange(len(shown)) + i * width, [metrics["planners"][mode][k][0] for k in shown],
               width, label=mode)
    ax.axhline(TARGETS["turn success"], color="grey", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(shown)) + 0.4 - width / 2, shown, fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ctx.out / plot, dpi=110)
    plt.close(fig)
    model = metrics["planners"]["model"]
    return SuiteResult(
        "dialogue",
        {"items": len(ctx.catalog.products), "test_set": str(TEST_SET.name), "llm_first": counts["llm"],
         "composed_queries": composed["queries"], "targets": TARGETS, "seed": ctx.seed},
        ["planner", "conv/turns", "intent acc", "slot P/R/F1", "reference acc", "turn success",
         "unseen: intent / success", "conversation success", "understanding ms p50/p95"], table, metrics,
        notes=[f"{len(scripts)} hand-written conversations, {metrics['turns']} turns; {same} of {total} "
               "test turns equal a training phrasing once catalogue values and numbers are taken out "
               "(mostly fragments: \"the 2nd\", \"thanks\", \"black\"); \"unseen\" scores the others.",
               f"Targets: turn success >= {TARGETS['turn success']}, intent accuracy >= "
               f"{TARGETS['intent accuracy']}, understanding p95 < {TARGETS['understanding p95 ms']} ms, "
               f"composed through the chat within {TARGETS['composed through chat within']} of the API. "
               f"Model planner: turn success {model['turn success'][0]:.3f}, intent "
               f"{model['intent accuracy'][0]:.3f}, p95 {model['understanding ms']['p95']:.1f} ms.",
               f"Composed queries understood as a refinement by the model: "
               f"{composed['understood as a refinement']:.3f}.",
               "Model planner's most frequent intent confusions (wanted -> decided): " +
               "; ".join(f"{k} ({v}x)" for k, v in model["confusions"].items())],
        plots=[plot])
