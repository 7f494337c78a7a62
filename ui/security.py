"""Who may reach what: the analysts' sign-in (a file of names and passwords the shop keeps) and the
headers the browser enforces on every response of the app (a Content-Security-Policy that keeps
images, scripts and connections on the app's own origin, no MIME sniffing, no referrer to other
sites)."""
from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ANALYSTS_ENV = "FASHION_ANALYSTS"
FRAME_ANCESTORS_ENV = "FASHION_FRAME_ANCESTORS"


class CredentialsError(ValueError):
    """The analysts' file cannot be used (the message names the file and line)."""


def analyst_logins(path: str | Path | Callable | list | None = None) -> Callable | list | None:
    """Gradio's ``auth`` for the analyst area: ``path`` itself when it already is one (a checking
    function, or (name, password) pairs), else read from ``path`` (default: ``FASHION_ANALYSTS``),
    a file of ``name:password`` lines (``#`` starts a comment); None when none is configured."""
    if callable(path) or isinstance(path, list):
        return path
    path = path or os.environ.get(ANALYSTS_ENV)
    if not path:
        return None
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read the analysts' file ({exc.strerror})") from None
    logins: dict[str, bytes] = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, password = line.partition(":")
        if not sep or not name.strip() or not password:
            raise CredentialsError(f"{path}, line {number}: expected name:password")
        logins[name.strip()] = password.encode()
    if not logins:
        raise CredentialsError(f"{path}: no name:password line")

    def check(name: str, password: str) -> bool:
        expected = logins.get(name)
        return expected is not None and hmac.compare_digest(expected, password.encode())
    return check


def frame_ancestors(origins: str | Sequence[str] | None = None) -> list[str]:
    """Who may frame the app: ``origins`` (a list, or a space-separated string), else
    ``FASHION_FRAME_ANCESTORS``, else the app's own origin only."""
    origins = origins if origins is not None else os.environ.get(FRAME_ANCESTORS_ENV, "")
    listed = origins.split() if isinstance(origins, str) else list(origins)
    return listed or ["'self'"]


def content_security_policy(ancestors: Sequence[str]) -> str:
    """The app's policy: everything from its own origin; ``data:``/``blob:`` images and media
    (Gradio's previews and uploads); inline scripts and styles, which Gradio's pages use."""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        f"frame-ancestors {' '.join(ancestors)}",
    ])


def security_headers(ancestors: Sequence[str]) -> dict[str, str]:
    return {"Content-Security-Policy": content_security_policy(ancestors),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin"}


class SecurityHeaders:
    """ASGI middleware: ``headers`` on every response whose path starts with ``prefix`` (the
    app's mount point; a shop's own pages keep their own headers)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str], prefix: str = "") -> None:
        self.app, self.headers, self.prefix = app, headers, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
