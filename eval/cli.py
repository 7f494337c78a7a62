"""``python -m eval``: run benchmark suites, print their tables, write metrics.json and report.md."""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from retrieval.settings import myntra_dir

from .context import Context
from .suites import SuiteResult, registry


def print_table(console: Console, result: SuiteResult) -> None:
    table = Table(title=f"suite: {result.name}")
    for col in result.columns:
        table.add_column(col)
    for row in result.rows:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    for note in result.notes:
        console.print("  " + note)


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_report(out: Path, results: list[SuiteResult], command: str) -> None:
    metrics_path = out / "metrics.json"
    data = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    data["_run"] = {"command": command, "machine": machine(),
                    "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    for r in results:
        data[r.name] = {"config": r.config, "metrics": r.metrics}
    metrics_path.write_text(json.dumps(data, indent=2, default=float))
    lines = [f"# Benchmark report", "", f"Command: `{command}`  ", f"Machine: {machine()}", ""]
    for r in results:
        lines += [f"## {r.name}", "", "| " + " | ".join(r.columns) + " |",
                  "|" + "---|" * len(r.columns)]
        lines += ["| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row)
                  + " |" for row in r.rows]
        lines += [""] + [f"- {n}" for n in r.notes] + [""]
        lines += [f"![{p}]({p})" for p in r.plots] + [""]
    (out / "report.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    suites = registry()
    p = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    p.add_argument("--suite", action="append", choices=sorted(suites),
                   help="suite to run (repeatable; default: all)")
    p.add_argument("--out", default="runs/eval", help="report folder")
    p.add_argument("--catalog", default=None, help="catalogue (default: the Myntra catalogue)")
    p.add_argument("--quick", action="store_true", help=f"a small slice, a few minutes on 2 cores")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(args.catalog or myntra_dir(), out, quick=args.quick, seed=args.seed)
    console = Console()
    results = []
    for name in args.suite or sorted(suites):
        start = time.perf_counter()
        result = suites[name](ctx)
        result.config["wall_s"] = round(time.perf_counter() - start, 2)
        results.append(result)
        print_table(console, result)
    write_report(out, results, "python -m eval " + " ".join(argv if argv is not None else sys.argv[1:]))
    console.print(f"report: {out / 'report.md'}")
    return 0
