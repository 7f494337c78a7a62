"""``python -m eval`` as an analyst runs it: tables on stdout, metrics.json, report.md from it."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow           # end to end: whole suites as subprocesses

def run_eval(out, myntra, *args, timeout=1800):
    """``python -m eval ARGS --catalog MYNTRA --out OUT`` as a user runs it; returns the process
    after checking it succeeded."""
    done = subprocess.run([sys.executable, "-m", "eval", *args, "--catalog", str(myntra),
                           "--out", str(out)], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_eval_writes_metrics_and_report(tmp_path, myntra):
    out = tmp_path / "report"
    done = run_eval(out, myntra, "--suite", "alignment", "--suite", "retrieval", "--limit", "300")
    assert "suite: alignment" in done.stdout and "suite: retrieval" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"alignment", "retrieval"}
    for suite in metrics.values():
        assert suite["config"]["items"] == 300
        assert "command" in suite["run"] and "cores" in suite["run"]["machine"]
    align = metrics["alignment"]["metrics"]
    assert align["trained alignment"]["recall@10"] > align["untrained projection"]["recall@10"]
    same_type = metrics["retrieval"]["metrics"]["item: same type"]
    assert {"TF-IDF text", "image only (trained)", "projection (untrained)"} <= set(same_type)
    assert 0 <= same_type["TF-IDF text"]["P@5"]["mean"] <= 1
    report = (out / "report.md").read_text()
    assert "## alignment" in report and "## retrieval" in report and "retrieval.png" in report
    assert (out / "retrieval.png").stat().st_size > 0


def test_complement_and_personal_suites_on_an_hm_slice(tmp_path, myntra):
    """Both H&M suites run end to end on the first 800 articles, print their tables with the
    baselines of the same run, and keep held-out answers out of training."""
    out = tmp_path / "report"
    done = run_eval(out, myntra, "--suite", "complement", "--suite", "personal", "--limit", "800")
    metrics = json.loads((out / "metrics.json").read_text())
    comp = metrics["complement"]
    assert comp["config"]["items"] == 800 and comp["config"]["test anchors"] > 10
    assert {"popularity, other types", "nearest neighbour, other types", "rules only",
            "pair model only", "ours, at most 2 per type and 3 per slot"} <= set(comp["metrics"]["methods"])
    for method in comp["metrics"]["methods"].values():
        assert 0 <= method["Recall@10"]["mean"] <= 1 and 0 <= method["FITB"]["mean"] <= 1
        assert 0 <= method["AUC"]["mean"] <= 1
    assert comp["config"]["fill-in-the-blank questions"] > 10
    weights = comp["config"]["weights (style, complementarity, popularity, copurchase, pair)"]
    assert all(abs(sum(w) - 1) < 1e-3 for w in weights.values())
    personal = metrics["personal"]
    methods = personal["metrics"]["methods"]
    assert set(methods) == {"Random", "MostPopular", "ItemKNN", "UserKNN", "Recency profile",
                            "Multimodal two-tower (PixelRec-style)",
                            "Sequential (SASRec-style, multimodal items)",
                            "Two-stage: candidates + ranker"}
    assert personal["config"]["test customers"] > 10
    for m in methods.values():
        assert 0 <= m["Recall@10"]["mean"] <= m["HR@10 (1+20)"]["mean"] <= 1
        assert 0 <= m["MAP@12"]["mean"] <= m["MRR"]["mean"]
    assert "suite: complement" in done.stdout and "suite: personal" in done.stdout
    assert (out / "complement.png").stat().st_size > 0 and (out / "personal.png").stat().st_size > 0


def test_faithfulness_suite_compares_evidence_with_random_removal(tmp_path, myntra):
    out = tmp_path / "report"
    run_eval(out, myntra, "--suite", "faithfulness", "--quick", "--limit", "300")
    suite = json.loads((out / "metrics.json").read_text())["faithfulness"]
    tokens = suite["metrics"]["token attribution (IG)"]
    assert tokens["matches"] >= 20
    assert tokens["faithful share"]["mean"] > 0.5          # top words matter more than random ones
    assert tokens["comprehensiveness"]["mean"] > tokens["random drop"]["mean"]
    for name in suite["config"]["cams"]:
        assert len(suite["config"]["fills"]) == 2
        m = suite["metrics"][f"{name}, {suite['config']['fills'][0]}"]
        assert len(m["curve"]["evidence"]) == len(suite["config"]["image fractions"])
        assert 0 <= m["faithful share"]["mean"] <= 1
        assert 0 <= suite["metrics"][f"{name}, ROAD"]["faithful share"]["mean"] <= 1
    default = suite["metrics"]["occlusion, 16 px squares (default), ROAD"]
    assert default["faithful share"]["mean"] > 0.5 and default["score"]["mean"] > default["random score"]["mean"]
    assert "Cost per match" in " ".join(suite["notes"])


def test_explanations_suite_reports_defects_distinctness_and_speed(tmp_path, myntra):
    from explain.ratings import Feedback, Rating, RatingStore

    reviews = RatingStore(tmp_path / "reviews.sqlite")       # what the app stored
    reviews.add(Rating("navy shirt", "1", "Navy, as asked.", "llm", 4, 5, flagged=True))
    reviews.add_feedback(Feedback("s", 3, True, "Navy, as asked.", "llm", {"intent": "explain"}))
    reviews.add_feedback(Feedback("s", 5, False, "Here are 6 products", "", {"intent": "search"}))
    reviews.close()
    out = tmp_path / "report"
    run_eval(out, myntra, "--suite", "explanations", "--quick", "--ratings",
             str(tmp_path / "reviews.sqlite"), timeout=2400)
    suite = json.loads((out / "metrics.json").read_text())["explanations"]
    m = suite["metrics"]
    assert m["reviews"]["llm"] == {"ratings": 1, "clarity": 4.0, "trust": 5.0, "flagged_share": 1.0,
                                   "thumbs_up": 1, "thumbs_down": 0}
    assert m["reviews"]["other"] == {"thumbs_up": 0, "thumbs_down": 1}
    report = (out / "report.md").read_text()
    assert "reviews of llm explanations" in report and "thumbs up 1 / down 0" in report
    records = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert len(records) == suite["config"]["matches"] >= 25
    assert set(m["by kind"]) == {"text", "composed", "image", "look", "item"}
    # shown texts are defect-free by construction: a model text with a defect is replaced
    assert m["defect-free, shown (final)"]["mean"] == 1.0 and not any(r["final_defects"] for r in records)
    assert all(r["explanation"] and 1 <= len(r["claims"]) <= 3 for r in records)
    assert 0 < m["distinctness (shown)"][1] <= 1 and 0 < m["unique sentence ratio (shown)"] <= 1
    assert m["live chat"]["texts"] > 0 and m["live chat"]["why answers by the LLM"] > 0
    assert m["live chat"]["why (s), prepared"]["p50"] > 0
    assert m["latency (s)"]["total_s"]["p50"] >= m["latency (s)"]["first_sentence_s"]["p50"] > 0
    assert report.count("Example ") >= 3


def test_agent_suite_scores_planners_on_generated_conversations(tmp_path, myntra):
    out = tmp_path / "report"
    done = run_eval(out, myntra, "--suite", "agent", "--quick", "--limit", "300")
    suite = json.loads((out / "metrics.json").read_text())["agent"]
    assert set(suite["metrics"]) == {"parser", "model", "auto", "llm"}
    parser = suite["metrics"]["parser"]
    assert parser["conversations"] == 12 and parser["turns"] == 12 * suite["config"]["turns per conversation"]
    assert parser["intent accuracy, templated"][0] >= 0.9      # the parser reads its own templates
    assert parser["decided by"] == {"parser": parser["turns"]}       # no LLM without asking
    model = suite["metrics"]["model"]
    assert model["decided by"] == {"model": model["turns"]} and model["intent accuracy, templated"][0] >= 0.9
    for m in suite["metrics"].values():
        assert 0 <= m["tool-call validity"][0] <= 1 and m["turn latency (s)"]["p95"] > 0
    assert suite["metrics"]["llm"]["decided by"].get("llm", 0) > 0   # the LLM planned turns
    assert "suite: agent" in done.stdout and (out / "agent.png").stat().st_size > 0


def test_load_suite_serves_concurrent_sessions_without_errors(tmp_path, myntra, index_dir):
    out = tmp_path / "report"
    run_eval(out, myntra, "--suite", "load", "--index", str(index_dir))
    suite = json.loads((out / "metrics.json").read_text())["load"]
    m = suite["metrics"]
    assert suite["config"]["sessions"] >= 20
    assert m["errors"] == 0, m["error examples"]
    assert m["search"]["requests"] == 2 * suite["config"]["sessions"]
    for kind in ("chat: search", "chat: filter", "chat: similar", "chat: why (LLM)", "search",
                 "photos", "ping"):
        assert m[kind]["under load"]["p95"] >= m[kind]["under load"]["p50"] > 0
        assert m[kind]["first chunk under load"]["p50"] <= m[kind]["under load"]["p50"]
    assert m["floor (ping alone, s)"] > 0 and m["agent's own turn (s)"]["p50"] > 0


def test_encoder_suites_compare_architectures_on_held_out_queries(tmp_path, myntra):
    """The encoder suites run end to end on a slice: every architecture of the ablation is
    trained and scored, the anchors' published figures are printed beside ours, the H&M
    photos are scored as served, and the default's costs are put beside the previous one's."""
    out = tmp_path / "enc"
    done = run_eval(out, myntra, "--suite", "kagl", "--suite", "photo", "--suite", "cost",
                    "--quick", "--limit", "300")
    assert "suite: kagl" in done.stdout and "suite: photo" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    names = [row[0] for row in metrics["kagl"]["table"]["rows"]]
    assert "Marqo-FashionSigLIP (published, zero-shot)" in names
    from eval.suites.kagl import VARIANTS

    ours = metrics["kagl"]["metrics"]["ours"]
    assert list(ours) == [name for name, *_ in VARIANTS]
    for scores in ours.values():
        t2i = scores["text-to-image"]
        assert 0 <= t2i["strict"]["R@1"] <= t2i["strict"]["R@10"] <= 1
        assert t2i["strict"]["R@10"] <= t2i["shared"]["R@10"]   # twins can only add hits
        assert scores["category"]["queries"] >= 2
        assert 0 <= scores["category, paraphrased"]["P@10"] <= 1    # asked in a shopper's words
    by_seed = metrics["kagl"]["metrics"]["default by seed"]       # retrained with other seeds
    assert len(by_seed) == 4 and "default, mean of seeds 0, 1, 2, 3" in names
    assert len({s["MRR"] for s in by_seed.values()}) > 1            # chance moves the figures
    from eval.suites.kagl import CROSS_FITTED, DEFAULT_ROW, whole_row

    cross_fitted = metrics["kagl"]["metrics"]["cross-fitted"]    # the anchors' gallery
    assert list(cross_fitted) == list(CROSS_FITTED)
    assert all(whole_row(short) in names for short in CROSS_FITTED)
    whole = cross_fitted["default"]
    assert whole["category"]["queries"] >= ours[VARIANTS[0].name]["category"]["queries"]
    assert sum(n for _, n in whole["category"]["P@10 by name"].values()) > sum(
        n for _, n in ours[VARIANTS[0].name]["category"]["P@10 by name"].values())
    # fold 0 ranked alone is the held-out split the other rows rank
    assert whole["category"]["P@10 of each fold alone"][0] == ours[DEFAULT_ROW]["category"]["P@10"]
    photo = metrics["photo"]["metrics"]["results"]
    assert "default encoder, fused index (as served)" in photo
    assert "default encoder + H&M pairs (training codes): photo to photos" in photo
    best = photo["default encoder + H&M pairs, kind named first (classifier on Myntra + H&M "
                 "training codes)"]                                   # queries: held-out codes
    assert 0 <= best["kind named right"] <= 1
    assert all(0 <= r["P@10"] <= 1 for r in photo.values())
    assert (out / "kagl.png").is_file() and (out / "photo.png").is_file()
    cost = metrics["cost"]["metrics"]
    assert set(cost["results"]) == {"lit-effnet-lite0-minilm", "lit-effnet-lite2-minilm-maps"}
    assert all(r["train s"] > 0 and r["learn kinds s"] > 0 and r["photos/s"] > 0
               for r in cost["results"].values())


def test_robustness_suite_counts_every_hostile_case_and_none_fails(tmp_path, myntra):
    """Hostile catalogues, planted and typed instructions, killed and racing writers and a hostile
    visitor of the app: every family tries cases, every case is saved, and none crashes, loses
    data, leaks, is followed or fails otherwise."""
    out = tmp_path / "report"
    run_eval(out, myntra, "--suite", "robustness", "--quick", "--limit", "300", timeout=2400)
    metrics = json.loads((out / "metrics.json").read_text())["robustness"]["metrics"]
    families = {k: v for k, v in metrics.items() if isinstance(v, dict) and k != "total"}
    assert len(families) == 12 and all(f["tried"] > 0 for f in families.values())
    assert sum(f["tried"] for n, f in families.items() if n.startswith("catalogue")) > 150
    failures = {n: {k: v for k, v in f.items() if k != "tried" and v} for n, f in families.items()}
    assert not any(failures.values()), (failures, metrics["failure examples"])
    cases = (out / "robustness_cases.jsonl").read_text().splitlines()
    assert len(cases) == metrics["total"]["tried"]
    assert (out / "robustness.png").stat().st_size > 0


def test_every_kind_the_photo_suite_maps_to_is_a_catalogue_article_type(myntra):
    import csv

    from eval.suites.photo import kind_table

    with (myntra / "styles.csv").open(newline="") as f:
        types = {row["articleType"] for row in csv.DictReader(f)}
    table = kind_table()
    assert len(table) >= 40
    assert {t for kinds in table.values() for t in kinds} <= types
