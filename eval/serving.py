"""The app as its own process (``python -m ui``), for the suites that probe it over HTTP."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

# The /chat endpoint answers (chat, gallery, cards, heat-map, words, why, gender, colour, category,
# price, need, session token, busy line, stop, what the page shows); the token, passed back,
# continues the conversation.
SESSION_OUTPUT = 11


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(index_dir: str | None, ratings: str,
              analysts: str | None = None) -> tuple[subprocess.Popen, str]:
    """Start the app on a free port (the demo index when ``index_dir`` is None; the analyst area
    with ``analysts``, a file of name:password lines) and wait until it answers; returns the
    process and its URL."""
    port = free_port()
    args = [sys.executable, "-m", "ui", "--port", str(port), "--ratings", ratings]
    if index_dir:
        args += ["--index", index_dir]
    if analysts:
        args += ["--analysts", analysts]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 900             # the demo index may be built first
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`{' '.join(args)}` exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(1)
    proc.kill()
    raise TimeoutError(f"the app did not answer on {url}")
