"""Catalogue, shopper and LLM text in the app's Markdown is shown as text; ratings exported to CSV
never become formulas; the analysts' sign-in file and the headers the browser enforces."""
from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from explain.ratings import Rating, RatingStore
from ui.escape import md, visible
from ui.security import CredentialsError, analyst_logins, content_security_policy, frame_ancestors

HELD_OUT = Path(__file__).resolve().parents[1] / "eval" / "data" / "markup_held_out.json"
HOSTILE = [
    "![x](http://evil.example/a.png)", '<img src=x onerror="alert(1)">', "[a](javascript:alert(1))",
    "<script>alert(1)</script>", "http://evil.example/x.png www.evil.example", "# heading\n- item",
    "    indented code", "1. first\n2) second", "&lt;b&gt; &#60;i&#62; &amp;", "`code` **bold** _it_",
    "a | b\n--|--\n1 | 2", "<style>body{background:url(//evil.example/c)}</style>", "$$x^2$$",
    "Tom & Jerry <3 \"quoted\" 'single' 5 < 6 > 4 😀", "Family 👨\u200d👩\u200d👧 tee — 100% cotton",
]


def rendered_text(markdown: str) -> tuple[str, list[str]]:
    """What a CommonMark renderer shows for ``markdown``, and the HTML tags it makes."""
    out = MarkdownIt("commonmark", {"linkify": True}).enable("linkify").render(markdown) \
        if _has_linkify() else MarkdownIt("commonmark").render(markdown)
    tags = re.findall(r"<(\w+)", out)
    return html.unescape(re.sub(r"<[^>]+>", "", out)).strip(), tags


def _has_linkify() -> bool:
    try:
        import linkify_it  # noqa: F401
        return True
    except ImportError:
        return False


@pytest.mark.parametrize("text", HOSTILE + [p["text"].replace("{origin}", "http://127.0.0.1:9")
                                            for p in json.loads(HELD_OUT.read_text())["payloads"]])
def test_markdown_of_any_text_renders_to_that_text_and_makes_no_element(text):
    shown, tags = rendered_text(md(text))
    assert set(tags) <= {"p"}, tags                            # no img, a, script, code, h1, li...
    expected = " ".join(" ".join(line.split()) for line in visible(text).split("\n") if line.strip())
    assert " ".join(shown.split()) == expected


def test_control_and_bidi_characters_are_not_shown_but_joiners_are():
    assert visible("Shirt \u202egnp.exe\u202c\x00 ok\u2066") == "Shirt gnp.exe ok"
    assert visible("👨\u200d👩") == "👨\u200d👩" and visible("a\r\nb") == "a\nb"


def test_exported_ratings_never_become_spreadsheet_formulas(tmp_path):
    store = RatingStore(tmp_path / "r.sqlite")
    texts = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tpadded", "fine"]
    for text in texts:
        store.add(Rating(text, "1", text, "llm", 3, 3, False, text, "ana"))
    with open(store.export_csv(tmp_path / "r.csv"), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    store.close()
    assert [r["comment"] for r in rows] == [f"'{t}" for t in texts[:-1]] + ["fine"]
    assert all(not r[k].startswith(("=", "+", "-", "@", "\t")) for r in rows for k in r)


def test_analysts_file_signs_in_only_its_names(tmp_path, monkeypatch):
    path = tmp_path / "analysts.txt"
    path.write_text("# comment\nana: pass:with colon\nbo:x\n")
    check = analyst_logins(path)
    assert check("ana", " pass:with colon") and check("bo", "x")
    assert not check("ana", "x") and not check("eve", "x") and not check("", "")
    monkeypatch.delenv("FASHION_ANALYSTS", raising=False)
    assert analyst_logins(None) is None                         # no file: no analyst area
    path.write_text("ana\n")
    with pytest.raises(CredentialsError, match="analysts.txt, line 1: expected name:password"):
        analyst_logins(path)


def test_policy_keeps_everything_on_the_apps_origin_and_frame_ancestors_are_the_shops(monkeypatch):
    monkeypatch.delenv("FASHION_FRAME_ANCESTORS", raising=False)
    policy = dict(p.split(" ", 1) for p in content_security_policy(frame_ancestors()).split("; "))
    assert policy["img-src"] == "'self' data: blob:" and policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'self'" and policy["object-src"] == "'none'"
    monkeypatch.setenv("FASHION_FRAME_ANCESTORS", "https://shop.example https://www.shop.example")
    assert frame_ancestors() == ["https://shop.example", "https://www.shop.example"]
    assert frame_ancestors(["'self'", "https://a.example"]) == ["'self'", "https://a.example"]
