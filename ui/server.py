"""Serving the app: the resources every session shares, and the shop with its analyst area, mounted
into a shop's own FastAPI site (the embedding API) or launched on their own (``python -m ui``).

The shop's page is at the mount path; the analyst area is a second Gradio app at
``<path>/analyst/``, served only behind a sign-in (a file of analysts' names and passwords, or the
shop's own authentication): with neither configured it is not served at all. Every response of
the app carries the headers of ``ui.security``."""
from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import gradio as gr
from fastapi import FastAPI, Request

from agent import DEFAULT_PLANNER, TurnModel
from explain.ratings import RatingStore
from retrieval import REPO_ROOT, Searcher, ensure_demo_index
from runtime import get_llm

from .analyst import build_analyst
from .resources import Resources
from .security import SecurityHeaders, analyst_logins, frame_ancestors, security_headers
from .shop import CSS, build_shop

MAX_UPLOAD = "10mb"
ANALYTICS_EVERY = 1000
ANALYST_PATH = "/analyst"
Logins = Callable[[str, str], bool] | list[tuple[str, str]] | str | Path | None
AuthDependency = Callable[[Request], str | None | Awaitable[str | None]] | None


def resources(index: str | Path | None = None, ratings: str | Path | None = None,
              planner: str = DEFAULT_PLANNER, ahead: bool = True) -> Resources:
    """What the sessions share: the searcher over ``index`` (default: the demo index, built first
    if missing), the ratings store, the planner, the benchmark report folder for the charts. The
    turn model, the explainer and the local LLM are loaded here, before the first shopper comes."""
    results = REPO_ROOT / "docs" / "results"
    searcher = Searcher(index or ensure_demo_index())
    if planner in ("model", "auto"):
        TurnModel.for_encoder(searcher.encoder)        # built or loaded before the first turn
    res = Resources(searcher, RatingStore(ratings), planner, results if results.is_dir() else None, ahead)
    res.explainer, get_llm()                           # no first-use stall at the first "why?"
    return res


def allowed(res: Resources) -> list[str]:
    """Files the app may serve besides its own: the catalogue's photos only."""
    return [res.image_root] if res.image_root else []


def _serve_static(folders: list[str]) -> None:
    """Serve ``folders`` as static files, checked first: Gradio tests every file of every answer
    against each static folder in turn (resolving both paths each time, a few system calls per
    folder), and the catalogue's photos are nearly all the files answers name. Gradio 6.31 keeps
    the folders in the order checked in ``_StaticFiles.all_paths``."""
    from gradio.data_classes import _StaticFiles

    gr.set_static_paths(folders)
    ours = {Path(f).resolve() for f in folders}
    _StaticFiles.all_paths.sort(key=lambda path: path not in ours)


def attach(site: FastAPI, res: Resources, path: str = "", analysts: Logins = None,
           analyst_auth: AuthDependency = None, ancestors: str | Sequence[str] | None = None,
           root_path: str | None = None) -> FastAPI:
    """Mount the shop at ``path`` of ``site`` and, when ``analysts`` (Gradio's ``auth``: a
    checking function, (name, password) pairs, or a file of ``name:password`` lines; default
    ``FASHION_ANALYSTS``) or ``analyst_auth`` (the shop's own sign-in: a function of the request
    returning the analyst's name, or None to refuse) is given, the analyst area at
    ``path + "/analyst"``. ``ancestors``: the origins that may frame the app (default
    ``FASHION_FRAME_ANCESTORS``, else the app's own). Gradio summarises its queue's last 10,000
    events (a pandas group-by) after every event unless told otherwise; nothing here reads that
    summary, so it is refreshed every ``ANALYTICS_EVERY`` events instead. The catalogue's photos
    are static files: served from where they are, not copied into Gradio's cache per answer."""
    path = path.rstrip("/")
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))
    folders = allowed(res)
    _serve_static(folders)
    site.add_middleware(SecurityHeaders, headers=security_headers(frame_ancestors(ancestors)),
                        prefix=path)
    logins = analyst_logins(analysts)
    common = {"allowed_paths": folders, "max_file_size": MAX_UPLOAD, "css": CSS,
              "run_history": False}
    if logins is not None or analyst_auth is not None:
        gr.mount_gradio_app(site, build_analyst(res).queue(), path=path + ANALYST_PATH,
                            auth=logins, auth_dependency=analyst_auth, footer_links=[],
                            auth_message="Analysts only: sign in with the name and password the "
                                         "shop gave you.",
                            root_path=None if root_path is None else root_path + ANALYST_PATH,
                            **common)
    gr.mount_gradio_app(site, build_shop(res).queue(default_concurrency_limit=None),
                        path=path or "/", mcp_server=True, footer_links=["api"],
                        root_path=root_path, **common)
    return site


def mount(site: FastAPI, path: str = "/assistant", index: str | Path | None = None,
          ratings: str | Path | None = None, analysts: Logins = None,
          analyst_auth: AuthDependency = None,
          frame_ancestors: str | Sequence[str] | None = None) -> FastAPI:
    """Mount the app into an existing FastAPI ``site`` at ``path`` (Gradio's mounting API), the
    analyst area at ``path + "/analyst"`` behind ``analysts`` or ``analyst_auth`` (see
    ``attach``); returns the site."""
    return attach(site, resources(index, ratings), path, analysts, analyst_auth, frame_ancestors)


def launch(res: Resources, host: str = "127.0.0.1", port: int = 7860,
           root_path: str | None = None, analysts: Logins = None,
           ancestors: str | Sequence[str] | None = None) -> None:
    """Serve the app on its own until interrupted (Ctrl-C); its tools are also an MCP server at
    ``/gradio_api/mcp/``, the analyst area (when ``analysts`` are configured) at ``/analyst/``."""
    import uvicorn

    analysts = analyst_logins(analysts)
    site = attach(FastAPI(title="Fashion shopping assistant", docs_url=None, redoc_url=None,
                          openapi_url=None), res, "", analysts, None, ancestors, root_path)
    server = uvicorn.Server(uvicorn.Config(site, host=host, port=port, log_level="warning",
                                            timeout_graceful_shutdown=5))
    url = f"http://{host}:{port}/"
    analyst = f" Analysts sign in at {url}analyst/." if analysts else \
        " The analyst area is off (no --analysts file)."
    print(f"The assistant is at {url} (its tools for agents: {url}gradio_api/mcp/).{analyst} "
          f"Ctrl-C stops it.", flush=True)
    server.run()
