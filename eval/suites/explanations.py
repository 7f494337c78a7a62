"""Explanations as shoppers see them: every product shown in answers of five kinds, explained
by the realiser (``explain.wording``) and by the local LLM choosing the wording of the same claims
(``explain.writer``), each text read by the objective defect check (``explain.defects``).

The sample: for held-out products, text searches (the handwritten references' queries, and
"<colour> <kind> for <gender>", a third with a budget), refinements ("like this but in linen"),
photo searches (the product's photo), complete-the-look and "more like this"; every one of the
``SHOWN`` products of each answer is explained among the others shown. Reported, per source:
- defect-free: no field notation, repetition, "only" beyond the facts that set it apart, price
  rank without price evidence, viewed product without one, value said to be asked but not asked,
  or hanging clause;
- distinctness: the share of texts holding the commonest five-word phrase (any position);
- speed: the first sentence and the whole text, and the realiser's time;
- ROUGE-L and BLEU against the handwritten references (written from the evidence alone).
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from importlib.resources import files
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import sacrebleu
from rouge_score import rouge_scorer
from tqdm.auto import tqdm

from agent import ShoppingAgent
from explain.claims import chosen
from explain.defects import defects, five_grams
from explain.evidence import Evidence, Explainer, Query
from explain.ratings import RatingStore
from explain.writer import ExplanationWriter, Grounding, realised
from retrieval import Searcher
from runtime import get_llm

from ..context import Context
from ..result import SuiteResult
from ..stats import percentiles
from ..stats import summary as stat

SHOWN = 5
ANSWERS = {"text": 12, "composed": 6, "image": 5, "look": 5, "item": 5}      # answers of each kind
# Changes shoppers ask of a product they look at (the catalogue's materials and colours).
CHANGES = ("like this but in linen", "same but in black", "this in cotton please",
           "something like it in red", "like this but cheaper", "in blue instead",
           "the same in denim", "like this but white")


def references() -> list[dict]:
    text = files("eval").joinpath("data/explanation_references.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def text_queries(ctx, searcher: Searcher, n: int) -> list[tuple[str, str | None]]:
    """(query, the referenced product or None): the references' queries whose product is in the
    index, then "<colour> <kind> for <gender>" of held-out products, every third with a budget."""
    out = [(r["query"], r["product_id"]) for r in references() if r["product_id"] in searcher.index][:n // 2]
    for row in ctx.query_rows(4 * n):
        if len(out) >= n:
            break
        p = ctx.catalog.products[row]
        if p.colour and p.article_type and p.gender:
            q = f"{p.colour} {p.article_type} for {p.gender}".lower()
            if p.price and len(out) % 3 == 2:
                q += f" under {int(round(p.price * 1.2, -2))}"
            out.append((q, None))
    return out


def answers(ctx, searcher: Searcher, quick: bool) -> list[tuple[str, Query, list, str | None]]:
    """(kind, query, the shown results or look items, the look's source): answers of every kind."""
    counts = {k: (2 if k == "text" else 1) if quick else v for k, v in ANSWERS.items()}
    out = []
    for q, ref in text_queries(ctx, searcher, counts["text"]):
        results = searcher.text(q, SHOWN)
        if ref and ref not in [r.id for r in results]:
            results = [*searcher.index.results([searcher.index.key_of(ref)], [0.0]), *results][:SHOWN]
        out.append(("text", Query("text", text=q), results, None))
    items = [ctx.catalog.products[r] for r in ctx.query_rows(200)]
    items = [p for p in items if p.id in searcher.index]
    for i, p in enumerate(items[:counts["composed"]]):
        change = CHANGES[i % len(CHANGES)]
        out.append(("composed", Query("composed", change, product_id=p.id),
                    searcher.composed(change, item=p.id, k=SHOWN).results, None))
    for p in items[10:10 + counts["image"]]:
        out.append(("image", Query("image", image_path=p.image_path),
                    searcher.image(p.image_path, SHOWN, exclude=[p.id]).results, None))
    for p in items[20:20 + counts["look"]]:
        look = searcher.complete(item=p.id, k=SHOWN)
        out.append(("look", Query("look", product_id=p.id), look.items, look.source))
    for p in items[30:30 + counts["item"]]:
        out.append(("item", Query("item", product_id=p.id), searcher.item(p.id, SHOWN), None))
    return out


# Conversations as shoppers have them in the chat: every answer's cards, and "why?" answers.
CONVERSATIONS = (("navy shirts for men", "why the second one?", "like this but in black", "why the first one?"),
                 ("black casual shoes under 2000", "cheaper", "why the third one?"),
                 ("a red dress for a party", "what goes with the first one?", "why the second one?"),
                 ("white sports shoes for women", "more like the first one", "why the first one?"),
                 ("linen shirt for my husband", "in blue instead", "why the second one?"),
                 ("handbags for women", "why the first one?", "show me watches", "why the fourth one?"))


def live(searcher: Searcher, explainer: Explainer, grounding: Grounding, quick: bool) -> list[dict]:
    """Every explanation the chat shows in ``CONVERSATIONS`` (cards and "why?" answers, the LLM
    wording them), each with its defects; and the time a "why?" turn takes when the answer's
    products were worked out ahead (after the shopper read the answer) and when not."""
    rows = []
    for conversation in CONVERSATIONS[:2] if quick else CONVERSATIONS:
        for ahead in (True, False):
            agent = ShoppingAgent(searcher, planner="parser", explanations="llm", explainer=explainer, ahead=ahead)
            for text in conversation:
                agent.cards.settle(120)
                start = time.perf_counter()
                answer = agent.turn(text)
                seconds = time.perf_counter() - start
                why = answer.trace.intent == "explain"
                if why:
                    rows.append({"turn": text, "why_s": seconds, "prepared": ahead})
                if not ahead:
                    continue
                for card in answer.cards:
                    ev = Evidence.from_json(card.evidence)
                    rows.append({"turn": text, "product_id": card.id, "explanation": card.explanation,
                                 "source": card.explanation_source,
                                 "defects": defects(card.explanation, ev, grounding.terms)})
    return rows


def distinctness(texts: list[str]) -> tuple[str, float]:
    """The commonest five-word phrase and the share of ``texts`` that hold it (at any position)."""
    counts = Counter(g for t in texts for g in set(five_grams(t)))
    if not counts:
        return "", 0.0
    gram, n = counts.most_common(1)[0]
    return " ".join(gram), n / len(texts)


def unique_sentence_ratio(texts: list[str]) -> float:
    sentences = [" ".join(s.lower().split()) for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if s.strip()]
    return len(set(sentences)) / len(sentences) if sentences else 0.0


def run(ctx: Context) -> SuiteResult:
    searcher = Searcher(ctx.index, ctx.encoder)
    explainer = Explainer(searcher, steps=8)
    grounding = Grounding.of(searcher.vocabulary)
    writer = ExplanationWriter(get_llm(), grounding)
    refs = {(r["query"], r["product_id"]): r["reference"] for r in references()}
    records = []
    for kind, query, shown, source in tqdm(answers(ctx, searcher, ctx.quick), unit="answer",
                                           desc="explaining answers"):
        products = [(s.result if hasattr(s, "result") else s).product for s in shown]
        for s in shown:
            ev = explainer(query, s, source, attributions=kind == "image", others=products)
            plain = realised(ev)
            out = writer.write(ev)
            product = ev.product
            records.append({
                "kind": kind, "query": query.text or query.product_id or Path(query.image_path or "").name,
                "product_id": product["id"], "product": product.get("title"),
                "fields": {k: v for k, v in product.items() if k not in ("id", "title", "name")},
                "facts": ev.facts(), "evidence": [c.evidence for c in chosen(ev)],
                "claims": [c.kind for c in chosen(ev)],
                "realiser": plain.text, "realiser_s": plain.total_s,
                "realiser_defects": defects(plain.text, ev, grounding.terms),
                "explanation": out.text, "source": out.source, "llm_defects": out.defects,
                "final_defects": defects(out.text, ev, grounding.terms),
                "first_sentence_s": out.first_token_s, "total_s": out.total_s,
                "reference": refs.get((query.text, product["id"]))})
    chat = live(searcher, explainer, grounding, ctx.quick)
    texts, whys = [r for r in chat if "defects" in r], [r for r in chat if "why_s" in r]
    (ctx.out / "explanations_live.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in chat) + "\n")
    (ctx.out / "explanations.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")

    def free(key: str, rows: list[dict]) -> dict:
        return stat(np.array([not r[key] for r in rows], float))

    llm_kept = [r for r in records if r["source"] == "llm"]
    shown_texts = [r["explanation"] for r in records]
    metrics = {
        "defect-free, shown (final)": free("final_defects", records),
        "defect-free, realiser": free("realiser_defects", records),
        "LLM text kept": stat(np.array([r["source"] == "llm" for r in records], float)),
        "defects found": dict(Counter(d.split(":")[0] for r in records for d in r["final_defects"] + r["llm_defects"])),
        "by kind": {k: {"matches": sum(r["kind"] == k for r in records),
                        "defect-free": float(np.mean([not r["final_defects"] for r in records if r["kind"] == k]))}
                    for k in ANSWERS if any(r["kind"] == k for r in records)},
        "live chat": {"texts": len(texts), "defect-free": float(np.mean([not r["defects"] for r in texts])),
                      "why answers by the LLM": sum(r["source"] == "llm" for r in texts),
                      "why (s), prepared": percentiles([r["why_s"] for r in whys if r["prepared"]], (50, 95)),
                      "why (s), not prepared": percentiles([r["why_s"] for r in whys if not r["prepared"]], (50, 95))},
        "distinctness (shown)": distinctness(shown_texts),
        "distinctness (realiser)": distinctness([r["realiser"] for r in records]),
        "distinctness (LLM kept)": distinctness([r["explanation"] for r in llm_kept]),
        "unique sentence ratio (shown)": unique_sentence_ratio(shown_texts),
        "latency (s)": {k: {p: round(v, 4) for p, v in percentiles([r[k] for r in records if r[k] is not None], (50, 95)).items()}
                        for k in ("first_sentence_s", "total_s", "realiser_s")}}
    with_ref = [r for r in records if r["reference"]]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    quality = {}
    for name in ("explanation", "realiser"):
        hyps, refs_ = [r[name] for r in with_ref], [r["reference"] for r in with_ref]
        quality[name] = {
            "ROUGE-L F1": stat([scorer.score(ref, hyp)["rougeL"].fmeasure for ref, hyp in zip(refs_, hyps)])
            if hyps else None,
            "BLEU": float(sacrebleu.corpus_bleu(hyps, [refs_]).score) if hyps else float("nan")}
    metrics["quality vs references"] = quality
    lat = metrics["latency (s)"]
    kinds = ", ".join(f"{k} {v['matches']}" for k, v in metrics["by kind"].items())
    table = [["matches (answers x shown)", f"{len(records)} ({kinds})"],
             ["defect-free, shown texts", f"{metrics['defect-free, shown (final)']['mean']:.3f}"],
             ["defect-free, realiser", f"{metrics['defect-free, realiser']['mean']:.3f}"],
             ["LLM wording kept (else the realiser's)", f"{metrics['LLM text kept']['mean']:.3f}"],
             ["defect-free, live chat (cards and \"why?\" answers)",
              f"{metrics['live chat']['defect-free']:.3f} of {len(texts)}"],
             ["\"why?\" turn p50 / p95 (s): products worked out ahead; not", "; ".join(
                 f"{w['p50']:.2f} / {w['p95']:.2f}" for w in (metrics["live chat"]["why (s), prepared"],
                                                              metrics["live chat"]["why (s), not prepared"]))],
             ["commonest five-word phrase, shown texts",
              f"\"{metrics['distinctness (shown)'][0]}\" in {metrics['distinctness (shown)'][1]:.3f}"],
             ["commonest five-word phrase, realiser",
              f"\"{metrics['distinctness (realiser)'][0]}\" in {metrics['distinctness (realiser)'][1]:.3f}"],
             ["unique sentence ratio, shown texts", f"{metrics['unique sentence ratio (shown)']:.3f}"],
             ["LLM first sentence p50 / p95 (s)", f"{lat['first_sentence_s']['p50']:.2f} / {lat['first_sentence_s']['p95']:.2f}"],
             ["LLM whole text p50 / p95 (s)", f"{lat['total_s']['p50']:.2f} / {lat['total_s']['p95']:.2f}"],
             ["realiser p50 / p95 (ms)", f"{1000 * lat['realiser_s']['p50']:.2f} / {1000 * lat['realiser_s']['p95']:.2f}"]]
    if with_ref:
        table.append(["ROUGE-L F1 / BLEU vs references, shown / realiser",
                      f"{quality['explanation']['ROUGE-L F1']['mean']:.3f} / {quality['explanation']['BLEU']:.1f}; "
                      f"{quality['realiser']['ROUGE-L F1']['mean']:.3f} / {quality['realiser']['BLEU']:.1f} "
                      f"({len(with_ref)} matches)"])
    if ctx.ratings:
        metrics["reviews"] = reviews = stored_reviews(ctx.ratings)
        table += review_rows(reviews)
    _plot(ctx.out / "explanations.png", records)
    return SuiteResult(
        name="explanations",
        config={"items": len(ctx.catalog.products), "matches": len(records), "shown per answer": SHOWN,
                "quick": ctx.quick, "model": str(get_llm().path.name)},
        columns=["measure", "value"],
        rows=table,
        metrics=metrics,
        notes=[f"{len(records)} shown explanations: every product of each answer, explained among the others "
               "shown. Every text with its claims' evidence and defects is in explanations.jsonl.",
               "Defects are found by explain.defects, the same rules for both sources; the writer falls back to "
               "the realiser when the model's text has one, so 'shown' is the product as served.",
               "Defects found (LLM drafts and shown texts): " + (", ".join(
                   f"{k} {v}" for k, v in metrics["defects found"].items()) or "none") + ".",
               "Distinctness: the commonest five-word phrase at any position, and the share of texts that hold it.",
               *examples(records)],
        plots=["explanations.png"],
    )


def examples(records: list[dict], n: int = 5) -> list[str]:
    """One explanation of each kind of answer, with its evidence."""
    picks = [next(r for r in records if r["kind"] == k) for k in ANSWERS if any(r["kind"] == k for r in records)]
    return [f"Example {i}: \"{r['query']}\" ({r['kind']}) -> {r['product']} ({r['product_id']}). "
            f"Evidence: {'; '.join(r['evidence'])}. Shown ({r['source']}): \"{r['explanation']}\""
            for i, r in enumerate(picks[:n], 1)]


def _plot(path, records: list[dict]) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    first = [r["first_sentence_s"] for r in records if r["first_sentence_s"] is not None]
    total = [r["total_s"] for r in records]
    ax.hist([first, total], bins=20, label=["first sentence", "whole text"])
    ax.set_xlabel("seconds (LLM wording)")
    ax.set_ylabel("explanations")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def stored_reviews(path: Path) -> dict[str, dict]:
    """The app's reviews database summarised per explanation source (``RatingStore.summary``)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"--ratings {path}: no such database (the app writes it with "
                                f"`python -m ui --ratings {path}`)")
    store = RatingStore(path)
    try:
        return store.summary()
    finally:
        store.close()


def review_rows(reviews: dict[str, dict]) -> list[list[str]]:
    """One table row per source: analysts' ratings and shoppers' thumbs."""
    rows = []
    for source, r in sorted(reviews.items()):
        rated = (f"{r['ratings']} rated, clarity {r['clarity']:.2f}, trust {r['trust']:.2f}, "
                 f"flagged {r['flagged_share']:.2f}") if r.get("ratings") else "not rated"
        thumbs = f"; thumbs up {r.get('thumbs_up', 0)} / down {r.get('thumbs_down', 0)}"
        rows.append([f"reviews of {source} explanations" if source != "other" else
                     "reviews of answers without an explanation", rated + thumbs])
    return rows
