"""``python -m ui``: serve the app (default: the demo index, built first if missing)."""
from __future__ import annotations

import argparse
from pathlib import Path

from retrieval.settings import REPO_ROOT, runs_dir

from .ratings import default_path

DEMO_LIMIT = 2000
MAX_UPLOAD = "10mb"


def demo_index() -> Path:
    """The demo index of ``python -m retrieval demo``, built now if it does not exist."""
    out = runs_dir() / "demo-index"
    if not (out / "CURRENT").is_file():
        from retrieval.build import build_index
        from retrieval.settings import myntra_dir

        print(f"building the demo index (first {DEMO_LIMIT} products of {myntra_dir()})")
        build_index(myntra_dir(), out, limit=DEMO_LIMIT)
    return out


def resources(index: str | Path | None = None, ratings: str | Path | None = None,
              planner: str = "auto"):
    from retrieval.search import Searcher

    from .app import Resources
    from .ratings import RatingStore

    results = REPO_ROOT / "docs" / "results"
    return Resources(Searcher(index or demo_index()), RatingStore(ratings), planner,
                     results if results.is_dir() else None)


def mount(site, path: str = "/assistant", index: str | Path | None = None,
          ratings: str | Path | None = None):
    """Mount the app into an existing FastAPI site at ``path`` (Gradio's mounting API)."""
    import gradio as gr

    from .app import build_app

    res = resources(index, ratings)
    app = build_app(res).queue(default_concurrency_limit=None)
    return gr.mount_gradio_app(site, app, path=path, allowed_paths=allowed(res),
                               max_file_size=MAX_UPLOAD)


def allowed(res) -> list[str]:
    """Files the app may serve besides its own: the catalogue's photos only."""
    return [res.image_root] if res.image_root else []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ui", description=__doc__)
    p.add_argument("--index", help="index folder (default: the demo index)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--root-path", default=None, help="URL prefix when served behind a proxy")
    p.add_argument("--ratings", default=None, help=f"SQLite file of analyst ratings "
                                                   f"(default: FASHION_RATINGS or {default_path()})")
    p.add_argument("--planner", choices=("parser", "auto", "llm"), default="auto")
    args = p.parse_args(argv)
    from .app import build_app

    res = resources(args.index, args.ratings, args.planner)
    app = build_app(res).queue(default_concurrency_limit=None)
    app.launch(server_name=args.host, server_port=args.port, root_path=args.root_path,
               allowed_paths=allowed(res), max_file_size=MAX_UPLOAD, footer_links=["api"])
    return 0
