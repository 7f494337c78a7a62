"""Serving the app: the resources every session shares, and mounting the app into a shop's own
FastAPI site (the embedding API), or launching it on its own (``python -m ui``)."""
from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
from fastapi import FastAPI

from agent import TurnModel
from explain.ratings import RatingStore
from retrieval.build import ensure_demo_index
from retrieval.search import Searcher
from retrieval.settings import DEFAULT_PLANNER, REPO_ROOT

from .app import CSS, Resources, build_app

MAX_UPLOAD = "10mb"
ANALYTICS_EVERY = 1000


def resources(index: str | Path | None = None, ratings: str | Path | None = None,
              planner: str = DEFAULT_PLANNER) -> Resources:
    """What the sessions share: the searcher over ``index`` (default: the demo index, built first
    if missing), the ratings store, the planner, the benchmark report folder for the charts."""
    results = REPO_ROOT / "docs" / "results"
    searcher = Searcher(index or ensure_demo_index())
    if planner in ("model", "auto"):
        TurnModel.for_encoder(searcher.encoder)        # built or loaded before the first turn
    return Resources(searcher, RatingStore(ratings), planner, results if results.is_dir() else None)


def allowed(res: Resources) -> list[str]:
    """Files the app may serve besides its own: the catalogue's photos only."""
    return [res.image_root] if res.image_root else []


def _queued(res: Resources) -> gr.Blocks:
    """The app with its queue. Gradio summarises its queue's last 10,000 events (a pandas
    group-by) after every event unless told otherwise; nothing here reads that summary, so it is
    refreshed every ``ANALYTICS_EVERY`` events instead. The catalogue's photos are static files:
    served from where they are, not hashed and copied into Gradio's cache for every answer."""
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))
    _serve_static(allowed(res))
    return build_app(res).queue(default_concurrency_limit=None)


def _serve_static(folders: list[str]) -> None:
    """Serve ``folders`` as static files, checked first: Gradio tests every file of every answer
    against each static folder in turn (resolving both paths each time, a few system calls per
    folder), and the catalogue's photos are nearly all the files answers name. Gradio 6.31 keeps
    the folders in the order checked in ``_StaticFiles.all_paths``."""
    from gradio.data_classes import _StaticFiles

    gr.set_static_paths(folders)
    ours = {Path(f).resolve() for f in folders}
    _StaticFiles.all_paths.sort(key=lambda path: path not in ours)


def mount(site: FastAPI, path: str = "/assistant", index: str | Path | None = None,
          ratings: str | Path | None = None) -> FastAPI:
    """Mount the app into an existing FastAPI ``site`` at ``path`` (Gradio's mounting API);
    returns the site."""
    res = resources(index, ratings)
    app = _queued(res)
    return gr.mount_gradio_app(site, app, path=path, allowed_paths=allowed(res),
                               max_file_size=MAX_UPLOAD, css=CSS, mcp_server=True)


def launch(res: Resources, host: str = "127.0.0.1", port: int = 7860,
           root_path: str | None = None) -> None:
    """Serve the app on its own until interrupted (Ctrl-C); its tools are also an MCP server at
    ``/gradio_api/mcp/``."""
    app = _queued(res)
    app.launch(server_name=host, server_port=port, root_path=root_path, css=CSS, mcp_server=True,
               allowed_paths=allowed(res), max_file_size=MAX_UPLOAD, footer_links=["api"],
               prevent_thread_lock=True, quiet=True)
    print(f"The assistant is at {app.local_url} (its tools for agents: {app.local_url}"
          f"gradio_api/mcp/). Ctrl-C stops it.", flush=True)
    app.block_thread()
