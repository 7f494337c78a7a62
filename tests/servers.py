"""A real app process for the end-to-end tests (not a test module)."""
from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real app process (``python -m ARGS --port PORT``), on a free port unless given one."""

    def __init__(self, args: list[str], path: str = "/", port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log")
        self.proc = subprocess.Popen([sys.executable, "-m", *args, "--port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited: {self.log.read()[-3000:]}")
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                time.sleep(1)
        self.stop()
        raise TimeoutError(f"{args} did not answer on {self.url}")

    def stop(self) -> None:
        """Terminate; kill if open browser connections keep it from shutting down."""
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)
