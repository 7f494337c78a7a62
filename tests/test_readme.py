"""The README's Python examples run as written, in order, in one namespace, from a fresh working
folder (the repository root's role): the quickstart builds ``runs/quickstart`` there, and the
gradio_client example talks to ``python -m ui --index runs/quickstart`` on the port it names."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from servers import Server

pytestmark = [pytest.mark.slow, pytest.mark.data]   # builds an index of the real catalogue, loads the LLM, serves the app

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
URL = re.compile(r'Client\("http://127\.0\.0\.1:(\d+)/"\)')


def test_readme_python_examples_run_as_written(tmp_path, monkeypatch, capsys):
    blocks = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5, "the README's Python examples were not found"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "analysts.txt").write_text("ana:her password\n")   # the analysts the examples name
    namespace: dict = {}
    servers = []
    try:
        for number, code in enumerate(blocks, 1):
            if m := URL.search(code):              # the example expects the app running there
                servers.append(Server(["ui", "--index", "runs/quickstart", "--ratings",
                                       str(tmp_path / "ratings.sqlite"), "--analysts",
                                       "analysts.txt"], port=int(m.group(1))))
            exec(compile(code, f"README.md python example {number}", "exec"), namespace)
    finally:
        for server in servers:
            server.stop()
    printed = capsys.readouterr().out
    assert "navy" in printed.lower() and "search ->" in printed
    assert namespace["shirts"] and namespace["reply"][0]
