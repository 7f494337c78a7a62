"""``python -m eval``: run benchmark suites, print their tables, write metrics.json and report.md."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from retrieval import DEFAULT_ENCODER, myntra_dir

from .context import Context
from .report import write_report
from .result import SuiteResult
from .suites import registry


def print_table(console: Console, result: SuiteResult) -> None:
    table = Table(title=f"suite: {result.name}")
    for col in result.columns:
        table.add_column(col)
    for row in result.rows:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    for note in result.notes:
        console.print("  " + note)


def index_sources(folder: Path, catalog: str | None) -> tuple[str, str, int | None]:
    """(catalogue path, base encoder architecture, product limit) recorded in an index."""
    from retrieval import ProductIndex

    index = ProductIndex.load(folder)
    towers = folder / index.encoder / "towers.json"
    encoder = json.loads(towers.read_text())["base"] if towers.exists() else index.encoder
    return catalog or index.meta["catalog"], encoder, index.meta.get("limit")


def main(argv: list[str] | None = None) -> int:
    suites = registry()
    p = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    p.add_argument("--suite", action="append", choices=sorted(suites),
                   help="suite to run (repeatable; default: all)")
    p.add_argument("--out", default="runs/eval", help="report folder")
    p.add_argument("--catalog", default=None, help="catalogue (default: the Myntra catalogue)")
    p.add_argument("--index", default=None,
                   help="evaluate the catalogue and encoder architecture of a built index (its "
                        "projections are retrained on the training split: held-out items stay unseen)")
    p.add_argument("--hm", default=None, help="H&M sample for the complement and personal suites "
                                              "(default: FASHION_HM or ../shared/data/hm-sample)")
    p.add_argument("--ratings", default=None,
                   help="the app's ratings database (`python -m ui --ratings`): the explanations "
                        "suite adds its analysts' ratings and shoppers' thumbs per explanation source")
    p.add_argument("--quick", action="store_true", help="a small slice, a few minutes on 2 cores")
    p.add_argument("--limit", type=int, help="use only the first N products")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    catalog, encoder, limit = args.catalog, DEFAULT_ENCODER, args.limit
    if args.index:
        catalog, encoder, built_limit = index_sources(Path(args.index), catalog)
        limit = limit or built_limit
    ctx = Context(catalog or myntra_dir(), out, quick=args.quick, seed=args.seed,
                  limit=limit, encoder=encoder, hm=args.hm, index_dir=args.index,
                  ratings=args.ratings)
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
