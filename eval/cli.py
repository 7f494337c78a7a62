"""``python -m eval``: run benchmark suites, print their tables, write metrics.json and report.md."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from retrieval.settings import myntra_dir

from .context import Context
from .report import write_report
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


def main(argv: list[str] | None = None) -> int:
    suites = registry()
    p = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    p.add_argument("--suite", action="append", choices=sorted(suites),
                   help="suite to run (repeatable; default: all)")
    p.add_argument("--out", default="runs/eval", help="report folder")
    p.add_argument("--catalog", default=None, help="catalogue (default: the Myntra catalogue)")
    p.add_argument("--quick", action="store_true", help=f"a small slice, a few minutes on 2 cores")
    p.add_argument("--limit", type=int, help="use only the first N products")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(args.catalog or myntra_dir(), out, quick=args.quick, seed=args.seed,
                  limit=args.limit)
    console = Console(width=120)
    command = "python -m eval " + " ".join(argv if argv is not None else sys.argv[1:])
    for name in args.suite or sorted(suites):
        start = time.perf_counter()
        result = suites[name](ctx)
        result.config["wall_s"] = round(time.perf_counter() - start, 2)
        print_table(console, result)
        write_report(out, [result], command)      # each suite is saved as soon as it is done
    console.print(f"report: {out / 'report.md'}")
    return 0
