"""The command line as a user runs it: build, search (text, photo, item), errors with exit 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow           # end to end: the CLI as subprocesses

def run(*args):
    return subprocess.run([sys.executable, "-m", "retrieval", *map(str, args)],
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, myntra):
    out = tmp_path_factory.mktemp("cli-index")
    done = run("build", "--catalog", myntra, "--out", out, "--limit", 120)
    assert done.returncode == 0, done.stderr
    assert "indexed 120 products" in done.stdout
    assert "peak memory" in done.stdout
    return out


def test_search_json_by_text_image_and_item(cli_index, myntra):
    for query in (["--text", "blue jeans"], ["--image", myntra / "images" / "1164.jpg"],
                  ["--item", "1164"]):
        done = run("search", "--index", cli_index, *query, "--k", 4, "--json")
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout)["results"]
        assert len(results) == 4
        assert set(results[0]) == {"id", "score", "title"}
        if query[0] == "--image":             # the kind the photo was taken to show, or null
            assert "kind" in json.loads(done.stdout)
    item = json.loads(run("search", "--index", cli_index, "--item", "1164", "--json").stdout)
    assert "1164" not in [r["id"] for r in item["results"]]


@pytest.mark.parametrize("query, message", [
    (["--item", "999999999"], "unknown product id"),
    (["--text", ""], "empty text"),
    (["--image", "/nonexistent/photo.jpg"], "missing image"),
])
def test_bad_queries_exit_2_with_a_clear_error(cli_index, query, message):
    done = run("search", "--index", cli_index, *query)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_missing_index_exits_2(tmp_path):
    done = run("search", "--index", tmp_path, "--text", "shirt")
    assert done.returncode == 2 and "not a readable index" in done.stderr
