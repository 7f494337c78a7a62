"""``python -m ui``: serve the app (default: the demo index, built first if missing)."""
from __future__ import annotations

import argparse

from explain.ratings import default_path
from retrieval.settings import DEFAULT_PLANNER, PLANNERS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ui", description=__doc__)
    p.add_argument("--index", help="index folder (default: the demo index)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--root-path", default=None, help="URL prefix when served behind a proxy")
    p.add_argument("--ratings", default=None, help=f"SQLite file of analyst ratings "
                                                   f"(default: FASHION_RATINGS or {default_path()})")
    p.add_argument("--planner", choices=PLANNERS, default=DEFAULT_PLANNER,
                   help="how a chat turn is understood (see `python -m agent --help`)")
    args = p.parse_args(argv)
    from .server import launch

    launch(args.index, args.ratings, args.planner, args.host, args.port, args.root_path)
    return 0
