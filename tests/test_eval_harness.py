"""``python -m eval`` as an analyst runs it: tables on stdout, metrics.json, report.md from it."""
from __future__ import annotations

import json
import subprocess
import sys


def test_eval_writes_metrics_and_report(tmp_path, myntra):
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "eval", "--suite", "alignment", "--suite", "retrieval",
         "--limit", "300", "--catalog", str(myntra), "--out", str(out)],
        capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
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
