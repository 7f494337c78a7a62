"""The served app in Chromium over a catalogue whose every text field carries markup: markdown
images and links, raw ``img``/``script``/``iframe``/``style``/``svg`` elements and event
handlers, ``javascript:`` and ``data:`` URLs, CSS ``url()``, entity- and unicode-escaped variants,
zero-width and bidirectional control characters. Each hostile product is built into a real
index, served by ``python -m ui`` and visited as a shopper (search, detail, complete the look,
compare, "why?", a photo search) and as a signed-in analyst (a review, the ratings and thumbs
tables, the charts, the CSV export); its tools are called over MCP.

A loopback listener stands in for the attacker's host: every payload names it, with the payload's
own name in the path. Counted per visit: ``leaked`` (a request to any origin but the app's, or
to the listener), ``followed`` (an injected script ran: a dialog, ``window.__pwned`` set, a page
error), ``changed`` (a plain title not shown exactly as written, a CSV cell a spreadsheet reads
as a formula, a tool's title not the catalogue's own string), ``crashed`` (the visit failed).

Two sets: ``TUNED``, the payloads the escaping was developed against, and the held-out set in
``eval/data/markup_held_out.json``, written apart (by a helper that never saw the fix) before
the fix was run on it.
"""
from __future__ import annotations

import asyncio
import csv
import http.server
import json
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from retrieval import Product

from ..serving import free_port, start_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT = 240_000                         # ms: an LLM explanation on a busy 2-core machine
HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "markup_held_out.json"
ANALYST = ("analyst", "robustness-password")
FORMULA = "=HYPERLINK(\"{origin}/csv\",\"click\")"

# Developed against: the fix was adjusted until these passed.
TUNED = [
    ("md-image", "markdown", "![x]({origin}/a.png)"),
    ("md-link-image", "markdown", "[![y]({origin}/b.png)]({origin}/c)"),
    ("md-ref-image", "markdown", "![z][1]\n\n[1]: {origin}/d.png"),
    ("img-onerror", "html", '<img src="{origin}/e.png" onerror="window.__pwned=1">'),
    ("script", "html", "<script>window.__pwned=1;fetch('{origin}/f')</script>"),
    ("iframe", "html", '<iframe src="{origin}/g"></iframe>'),
    ("style-import", "css", "<style>@import '{origin}/h.css';</style>"),
    ("style-attr", "css", '<div style="background:url({origin}/i.png)">x</div>'),
    ("svg-onload", "html", '<svg onload="alert(1)"><image href="{origin}/j.png"/></svg>'),
    ("js-link", "url", "[click](javascript:alert(1))"),
    ("data-link", "url", "[data](data:text/html,<script>alert(1)</script>)"),
    ("entity-img", "escaped", "&lt;img src={origin}/k.png onerror=alert(1)&gt;"),
    ("numeric-entity", "escaped", "&#60;img src={origin}/l.png&#62;"),
    ("zero-width", "unicode", "<im\u200bg src={origin}/m.png>"),
    ("rtl-override", "unicode", "Shirt \u202egnp.exe\u202c <img src={origin}/n.png>"),
    ("autolink", "markdown", "<{origin}/o.png>"),
    ("latex", "mixed", "$$\\href{{origin}/p}{x}$$ $\\includegraphics{{origin}/q.png}$"),
    ("plain-ampersand", "plain", "Tom & Jerry <3 \"quoted\" 'single' 5 < 6 > 4 😀"),
    ("plain-emoji", "plain", "Family 👨\u200d👩\u200d👧 tee — 100% cotton & more"),
]


def wait_until(page, expression: str, arg=None, timeout: float = WAIT) -> None:
    """Poll ``expression`` (a JavaScript expression, or a function of ``arg``) until it is true.
    Playwright's ``wait_for_function`` compiles its predicate with ``eval`` in the page, which the
    app's Content-Security-Policy forbids; ``evaluate`` runs outside the page's policy."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            if page.evaluate(expression, arg):
                return
        except Error as exc:                     # the page navigated meanwhile: ask it again
            if "context was destroyed" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout / 1000:.0f} s: {expression[:80]}")
        page.wait_for_timeout(200)


@dataclass
class Payload:
    name: str
    kind: str
    text: str
    held_out: bool


@dataclass
class Outcome:
    probe: str
    payload: str = ""
    held_out: bool = False
    crashed: str = ""
    leaked: list[str] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)
    changed: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.crashed or self.leaked or self.followed or self.changed)


def payloads(quick: bool) -> list[Payload]:
    """The tuned and the held-out payloads (``quick``: every third of each)."""
    tuned = [Payload(n, k, t, False) for n, k, t in TUNED]
    held = [Payload(p["name"], p["kind"], p["text"], True)
            for p in json.loads(HELD_OUT.read_text(encoding="utf-8"))["payloads"]]
    if quick:
        tuned, held = tuned[::3] + [p for p in tuned if p.kind == "plain"][:1], held[::5]
    return tuned + held


class Listener:
    """The other host: an HTTP server on loopback that records every path asked of it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        record = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:                       # noqa: N802 - http.server's name
                record.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            do_POST = do_GET                                  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def hostile_catalogue(products: list[Product], marked: list[Payload], origin: str,
                      folder: Path) -> list[dict]:
    """A JSONL catalogue with one product per payload: the payload (its host the listener, with
    its name in the path) in the title, description, brand, materials and free attributes, and in
    the colour, kind or usage of every fourth; photos copied in. Returns the rows."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, payload in enumerate(marked):
        base = products[i % len(products)]
        text = payload.text.replace("{origin}", f"{origin}/{payload.name}")
        image = f"images/{i}{Path(base.image_path).suffix}"
        shutil.copy(base.image_path, folder / image)
        row = {"id": f"hostile-{i}", "title": f"{base.title} {text}", "image": image,
               "description": f"{text} {base.description[:200]}", "brand": text,
               "composition": text, "price": base.price or 999, "gender": base.gender or "",
               "article_type": base.article_type or "", "colour": base.colour or "",
               "usage": base.usage or "", "attributes": {"fabric": text, "pattern": text}}
        if payload.kind != "plain" and i % 4 == 0:
            row[("colour", "article_type", "usage")[i // 4 % 3]] = text
        rows.append(row)
    with open(folder / "catalog.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return rows


def base_title(row: dict, payload: Payload | None = None) -> str:
    """What a shopper would type to find a hostile row: the real product's title it was made
    from (its payload is its brand), and a plain payload's words too, so that its own card is
    listed for the detail view's check."""
    base = row["title"][:-len(row["brand"])].strip()
    if payload is None or payload.kind != "plain":
        return base
    return " ".join([base, *re.findall(r"[^\W_]+", payload.text)])


class Visit:
    """One Chromium page on the app, with what it did that a payload could cause."""

    def __init__(self, browser, app_origin: str, viewport: dict | None = None) -> None:
        self.page = browser.new_context(viewport=viewport or {"width": 1300, "height": 1100}).new_page()
        self.app_origin = app_origin
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)[:200]))

    def mark(self) -> tuple[int, int, int]:
        return len(self.requests), len(self.dialogs), len(self.errors)

    def judge(self, o: Outcome, since: tuple[int, int, int], listener: Listener, heard: int) -> None:
        """Fill ``o`` with what happened since ``since`` (and since the listener heard ``heard``)."""
        foreign = [u for u in self.requests[since[0]:] if not u.startswith(
            (self.app_origin, "data:", "blob:", "about:"))]
        o.leaked = sorted(set(foreign + [f"listener {p}" for p in listener.paths[heard:]]))[:5]
        pwned = self.page.evaluate("window.__pwned !== undefined")
        o.followed = ([f"dialog: {d[:60]}" for d in self.dialogs[since[1]:]]
                      + [f"page error: {e}" for e in self.errors[since[2]:]]
                      + (["window.__pwned set"] if pwned else []))


def bot_count(page) -> int:
    return page.locator("[data-testid=bot]").count()


def answered(page, before: int) -> None:
    """Wait until a new answer is in the chat and finished (no placeholder, no busy line)."""
    wait_until(
        page, "n => { const b = document.querySelectorAll('[data-testid=bot]'); return b.length > n && "
        "b[b.length - 1].innerText.trim() !== '…' && !document.querySelector('#busy-text:not(.hidden)')?.innerText; }",
        before)


def ask(page, text: str) -> None:
    before = bot_count(page)
    page.locator("#query textarea").fill(text)
    page.locator("#send").click()
    answered(page, before)


class NotAsWritten(AssertionError):
    """A text the page shows otherwise than the catalogue wrote it."""


def run_visit(name: str, payload: Payload, visit: Visit, listener: Listener, steps) -> Outcome:
    o = Outcome(name, payload.name, payload.held_out)
    since, heard = visit.mark(), len(listener.paths)
    try:
        steps(visit.page)
        visit.page.wait_for_timeout(300)               # let late loads (images, frames) start
    except NotAsWritten as exc:
        o.changed = str(exc)
    except Exception as exc:  # noqa: BLE001 - a failed visit is a counted outcome
        o.crashed = f"{type(exc).__name__}: {exc}"[:200]
    visit.judge(o, since, listener, heard)
    return o


def click_answered(page, selector: str) -> None:
    before = bot_count(page)
    page.locator(selector).click()
    answered(page, before)


def open_filters(page) -> None:
    page.locator("#filters").get_by_text("Filters").click()
    for name in ("Gender", "Category", "Colour"):
        page.get_by_role("combobox", name=name, exact=True).click()
        page.get_by_role("option").first.wait_for(timeout=WAIT)
        page.keyboard.press("Escape")
        page.locator("#query textarea").focus()
    page.locator("#filters").get_by_text("Filters").click()          # closed again


def shopper_visits(browser, url: str, rows: list[dict], marked: list[Payload], listener: Listener,
                   folder: Path, explain: int, photos: int, log) -> list[Outcome]:
    """Each hostile product searched for, opened, completed, compared; ``explain`` of them
    explained ("why?", the local LLM), ``photos`` searched by their photo."""
    out = []
    origin = url.rstrip("/")
    for i, (row, payload) in enumerate(log(list(zip(rows, marked)), "hostile products in Chromium")):
        visit = Visit(browser, origin)
        page = visit.page
        words = base_title(row, payload)
        out.append(run_visit("page load", payload, visit, listener, lambda p: (
            p.goto(url), p.locator("#query textarea").wait_for(timeout=WAIT))))
        out.append(run_visit("search", payload, visit, listener,
                             lambda p, words=words: ask(p, words)))
        if i == 0:                     # the filters list every colour, kind and usage
            out.append(run_visit("filters opened", payload, visit, listener, open_filters))

        def detail(p, row=row, payload=payload) -> None:
            cards = p.locator("#products .thumbnail-item")
            if payload.kind == "plain":              # its own card, to check its title
                cards = cards.filter(has_text=payload.text[:20])
            cards.first.click()
            wait_until(p, "document.querySelector('#detail-text')?.innerText.includes('id ')")
            if payload.kind == "plain":
                titles = [p.locator("#detail-text h3").inner_text().strip(),
                          *p.locator("#products .thumbnail-item").all_inner_texts()]
                if not any(t.startswith(row["title"]) for t in titles):
                    raise NotAsWritten(f"the title is not shown as written: {titles[0][:80]!r}")
        out.append(run_visit("detail view", payload, visit, listener, detail))
        out.append(run_visit("complete the look", payload, visit, listener,
                             lambda p: click_answered(p, "#look")))
        out.append(run_visit("compare", payload, visit, listener,
                             lambda p: ask(p, "compare #1 and #2")))
        out.append(run_visit("thumbs down", payload, visit, listener, lambda p: (
            p.locator("#chat button[title=Dislike]").last.click(), p.wait_for_timeout(500))))
        if i < explain:
            out.append(run_visit("why?", payload, visit, listener, lambda p, words=words: (
                ask(p, words), p.locator("#products .thumbnail-item").first.click(),
                p.locator("#why").click(),
                wait_until(p, "document.querySelector('#why-text').innerText.includes('Explanation:')"))))
        if i < photos:
            photo = str(folder / row["image"])
            out.append(run_visit("photo search", payload, visit, listener, lambda p, photo=photo: (
                p.locator("#photo input[type=file]").set_input_files(photo),
                p.wait_for_timeout(1000), click_answered(p, "#send"))))
        page.context.close()
    return out


def analyst_visits(browser, url: str, rows: list[dict], marked: list[Payload], listener: Listener,
                   samples: int, ratings: Path) -> list[Outcome]:
    """Ratings carrying every payload (and a formula) stored over the analysts' API, then the
    analyst area visited: sign in, the tables, ``samples`` reviews, the charts, the CSV export."""
    from gradio_client import Client

    analyst_url = f"{url}analyst/"
    out = []
    client = Client(analyst_url, auth=ANALYST, verbose=False)
    for row in rows:
        client.predict(row["id"], row["title"], row["description"], "llm", 3, 3, False,
                       FORMULA.replace("{origin}", listener.origin), api_name="/rate")
    everyone = Payload("all", "mixed", "", False)
    visit = Visit(browser, url.rstrip("/"))

    def sign_in(p) -> None:
        p.goto(analyst_url)
        p.locator("input[name=username], input[type=text]").first.fill(ANALYST[0])
        p.locator("input[type=password]").first.fill(ANALYST[1])
        p.get_by_role("button", name="Login").click()
        wait_until(p, "document.querySelector('#ratings')?.innerText.includes('hostile-')")
        wait_until(p, "document.querySelector('#feedback')?.innerText.includes('down')")
    out.append(run_visit("analyst: sign in, ratings and thumbs", everyone, visit, listener, sign_in))
    for row, payload in list(zip(rows, marked))[:samples]:
        def review(p, row=row) -> None:
            p.locator("#review-query textarea").fill(base_title(row))
            p.locator("#sample").click()
            wait_until(p, "document.querySelector('#review-text').innerText.includes('Explanation:')")
        out.append(run_visit("analyst: review", payload, visit, listener, review))

    def charts(p) -> None:
        p.get_by_text("Charts").click()
        p.get_by_role("button", name="Draw charts").click()
        wait_until(p, "['clusters', 'colours', 'genders'].every(c => "
                      "document.querySelector(`#chart-${c} img`))")
    out.append(run_visit("analyst: charts", everyone, visit, listener, charts))
    o = run_visit("analyst: CSV export", everyone, visit, listener, lambda p: (
        p.locator("#export").click(),
        wait_until(p, "document.querySelector('#exported')?.innerText.includes('.csv')")))
    exported = ratings.with_suffix(".csv")
    if exported.is_file():
        with open(exported, newline="", encoding="utf-8") as fh:
            cells = [c for r in csv.reader(fh) for c in r]
        live = [c for c in cells if c.startswith(("=", "+", "-", "@"))]
        o.changed = f"{len(live)} cells read as formulas" if live else ""
    else:
        o.crashed = o.crashed or "no CSV written"
    out.append(o)
    visit.page.context.close()
    return out


def tool_visits(url: str, rows: list[dict], marked: list[Payload], titles: dict[str, str]) -> list[Outcome]:
    """Each hostile product's words searched over MCP: every title comes back as the
    catalogue's own string (plain JSON, not HTML, not escaped)."""
    with ThreadPoolExecutor(1) as pool:
        results = pool.submit(asyncio.run, _mcp_search(f"{url}gradio_api/mcp/", rows)).result()
    out = []
    for payload, result in zip(marked, results):
        o = Outcome("MCP search", payload.name, payload.held_out)
        if isinstance(result, str):
            o.crashed = result
        else:
            wrong = [p["title"][:60] for p in result if titles.get(p["id"]) != p["title"]]
            o.changed = f"titles not as catalogued: {wrong}" if wrong else ""
        out.append(o)
    return out


async def _mcp_search(url: str, rows: list[dict]) -> list:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    out = []
    async with streamablehttp_client(url) as (read, write, _), ClientSession(read, write) as session:
        await session.initialize()
        for row in rows:
            result = await session.call_tool("search", {"query": base_title(row), "k": 6})
            try:
                out.append(json.loads(result.content[0].text) if not result.isError
                           else f"tool error: {result.content[0].text[:120]}")
            except ValueError as exc:
                out.append(f"not JSON ({exc}): {result.content[0].text[:80]!r}")
    return out


def run_browser(products: list[Product], work: Path, quick: bool, log) -> list[Outcome]:
    """Build the hostile catalogue, serve it with an analyst signed in, and visit it."""
    from playwright.sync_api import sync_playwright

    from retrieval import Searcher, build_index

    marked = payloads(quick)
    listener = Listener()
    try:
        rows = hostile_catalogue(products, marked, listener.origin, work / "shop")
        build_index(work / "shop" / "catalog.jsonl", work / "index")
        titles = {p.id: p.title for p in Searcher(work / "index").index.products_where(limit=10_000)}
        (work / "analysts.txt").write_text(f"{ANALYST[0]}:{ANALYST[1]}\n")
        ratings = work / "ratings.sqlite"
        proc, url = start_app(str(work / "index"), str(ratings), analysts=str(work / "analysts.txt"))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                out = shopper_visits(browser, url, rows, marked, listener, work / "shop",
                                     1 if quick else 6, 1 if quick else 4, log)
                out += analyst_visits(browser, url, rows, marked, listener, 1 if quick else 3, ratings)
                browser.close()
            out += tool_visits(url, rows, marked, titles)
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        listener.close()
    return out
