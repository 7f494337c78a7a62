"""The app as shoppers, analysts and shops use it: the real server (``python -m ui``) driven in
headless Chromium (Debian's package, installed by ``make``) with Playwright; screenshots of each
step go to ``runs/screenshots`` (or ``FASHION_SCREENSHOTS``)."""
from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from servers import Server

from eval.robustness.browser import ARGS, CHROMIUM, wait_until
from explain.ratings import Rating, RatingStore
from retrieval import runs_dir

pytestmark = pytest.mark.slow           # end to end: a served app in Chromium

WAIT = 180_000                 # ms; an explanation on a busy 2-core machine takes a while


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("FASHION_SCREENSHOTS", runs_dir() / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), "Debian's chromium is installed by `make install`"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def bot_says(page, prefix: str) -> None:
    wait_until(page, "p => [...document.querySelectorAll('[data-testid=bot]')]"
                     ".some(e => e.innerText.startsWith(p))", prefix)


def select(page, n: int) -> None:
    page.locator("#products .thumbnail-item").nth(n - 1).click()
    wait_until(page, "n => document.querySelector('#selected').innerText.includes('#' + n)", n)


def ask(page, text: str) -> None:
    page.locator("#query textarea").fill(text)
    page.locator("#send").click()


ANALYST = ("ana", "s3cret pass")


def analysts_file(tmp_path: Path) -> str:
    path = tmp_path / "analysts.txt"
    path.write_text(f"# the shop's analysts\n{ANALYST[0]}:{ANALYST[1]}\n")
    return str(path)


def signed_in(browser, url: str):
    """A page on the analyst area, signed in through Gradio's login form."""
    page = browser.new_context(viewport={"width": 1300, "height": 1100}).new_page()
    page.goto(f"{url}analyst/")
    page.locator("input[type=password]").wait_for(timeout=WAIT)
    page.locator("input:not([type=password])").first.fill(ANALYST[0])
    page.locator("input[type=password]").fill(ANALYST[1])
    page.get_by_role("button", name="Login").click()
    page.locator("#ratings").wait_for(timeout=WAIT)
    return page


def test_shopper_and_analyst_in_chromium(index_dir, tmp_path, browser, shots):
    ratings = tmp_path / "ratings.sqlite"
    analysts = analysts_file(tmp_path)
    server = Server(["ui", "--index", str(index_dir), "--ratings", str(ratings), "--analysts", analysts])
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1100})
        response = page.goto(server.url)
        policy = response.headers["content-security-policy"]
        assert "img-src 'self' data: blob:" in policy and "frame-ancestors 'self'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        ask(page, "show me tshirts for men")
        bot_says(page, "Here are 6 products")
        wait_until(page, "document.querySelectorAll('#products img').length == 6")
        assert page.locator("#products").inner_text().count("score") == 6    # card captions
        assert "article type: Tshirts" in page.locator("#need").inner_text()   # the need chips
        page.locator("#filters").get_by_text("Filters").click()
        assert page.get_by_label("Category").input_value() == "Tshirts"   # set by the chat
        page.screenshot(path=shots / "1-search.png")

        # Markup typed into the chat is shown as text, never run, and never acted on.
        ask(page, '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> shoes')
        bot_says(page, "That message reads like instructions or code")
        assert page.evaluate("window.__xss === undefined")
        assert page.locator("#products").inner_text().count("score") == 6        # still the tshirts

        select(page, 2)
        page.locator("#more").click()
        bot_says(page, "Products like")
        page.screenshot(path=shots / "2-more-like-this.png")

        ask(page, "like this but in black")
        bot_says(page, "Like ")
        page.screenshot(path=shots / "3-refine.png")

        select(page, 1)
        page.locator("#why").click()
        wait_until(page, "document.querySelector('#why-text').innerText.includes('Explanation:')")
        why = page.locator("#why-text").inner_text()
        assert "from claims chosen by code" in why and "states" in why        # each sentence's claim
        assert page.locator("#why-panel img").count() >= 1                  # the Grad-CAM overlay
        page.screenshot(path=shots / "4-why.png", full_page=True)

        assert "Analyst" not in page.locator("body").inner_text()      # the shop shows the shop only
        page = signed_in(browser, server.url)
        page.locator("#review-query textarea").fill("navy shirt")
        page.locator("#sample").click()
        wait_until(page, "document.querySelector('#review-text').innerText.includes('Explanation:')")
        page.locator("#clarity input[type=number]").fill("4")
        page.locator("#comment textarea").fill("clear, cites the colour")
        page.locator("#flag input").check()
        page.locator("#save-rating").click()
        wait_until(page, "document.querySelector('#rating-status').innerText.includes('Saved rating #1')")
        page.screenshot(path=shots / "5-rating.png", full_page=True)
    finally:
        server.stop()

    # The rating is in the database file, and the restarted app lists it.
    row = sqlite3.connect(ratings).execute(
        "SELECT clarity, flagged, comment, analyst FROM ratings").fetchall()
    assert row == [(4, 1, "clear, cites the colour", "ana")]       # the signed-in analyst
    server = Server(["ui", "--index", str(index_dir), "--ratings", str(ratings), "--analysts", analysts])
    try:
        page = signed_in(browser, server.url)
        wait_until(page, "document.querySelector('#ratings').innerText.includes('cites the colour')")
        page.screenshot(path=shots / "6-rating-after-restart.png", full_page=True)
    finally:
        server.stop()


def bots(page) -> int:
    return page.locator("[data-testid=bot]").count()


def feedback_rows(path: Path, count: int) -> list[tuple]:
    """The shoppers' thumbs in the database, once ``count`` are there (a thumb is stored as the
    browser sends it)."""
    for _ in range(60):
        rows = sqlite3.connect(path).execute(
            "SELECT liked, explanation_source, trace FROM feedback ORDER BY id").fetchall()
        if len(rows) >= count:
            return rows
        time.sleep(0.5)
    return rows


def test_chat_habits_in_chromium(index_dir, tmp_path, browser, shots):
    """Chips, thumbs, the need as chips, the detail view, a reload, stopping an explanation, a new
    chat, the analyst's filters; then a phone-width page driven by keyboard."""
    ratings = tmp_path / "ratings.sqlite"
    store = RatingStore(ratings)                       # two earlier reviews to filter
    for source, flagged in (("llm", True), ("template", False)):
        store.add(Rating("tshirts", "1", f"{source} text", source, 4, 4, flagged, f"{source} review"))
    store.close()
    server = Server(["ui", "--index", str(index_dir), "--ratings", str(ratings), "--analysts",
                     analysts_file(tmp_path), "--no-explain-ahead"])    # an explanation to stop
    try:
        page = browser.new_context(viewport={"width": 1300, "height": 1100}).new_page()
        page.goto(server.url)
        ask(page, "show me tshirts for men")
        bot_says(page, "Here are 6 products")
        chips = page.locator("#chat .option").all_inner_texts()
        assert {"why #1?", "more like #1", "cheaper", "what goes with #1?"} <= set(chips)
        page.screenshot(path=shots / "8-chips.png")
        recolour = next(c for c in chips if c.startswith("like #1 but in "))
        page.locator("#chat .option", has_text=recolour).click()          # a chip is a message
        bot_says(page, "Like ")
        assert page.locator("[data-testid=user]").last.inner_text().strip() == recolour
        page.locator("#chat .option").first.wait_for(timeout=WAIT)
        assert page.locator("#chat .option").count() <= 5            # under the newest answer only

        page.locator("#chat button[title=Dislike]").last.click()
        liked, source, trace = feedback_rows(ratings, 1)[0]
        assert (liked, source, json.loads(trace)["intent"]) == (0, "", "refine")

        assert "gender: Men" in page.locator("#need").inner_text()
        page.locator("#need .token", has_text="gender: Men").locator(".token-remove").click()
        bot_says(page, "Without gender: Men.")
        page.locator("#filters").get_by_text("Filters").click()
        assert page.get_by_role("combobox", name="Gender", exact=True).input_value() == "Any"
        assert "gender: Men" not in page.locator("#need").inner_text()

        title = page.locator("#products .thumbnail-item").nth(1).inner_text().split("\n")[0]
        page.locator("#products .thumbnail-item").nth(1).click()
        wait_until(page, "document.querySelector('#detail-text') && "
                               "document.querySelector('#detail-text').innerText.includes('₹')")
        detail = page.locator("#detail-text").inner_text()
        assert title.rstrip("…. ")[:20] in detail and "kind:" in detail
        assert page.locator("#detail img").count() == 1
        page.screenshot(path=shots / "9-detail.png", full_page=True)

        answers, need = bots(page), page.locator("#need .token").all_inner_texts()
        assert need
        page.reload()                                  # the conversation survives a reload
        wait_until(page, "n => document.querySelectorAll('[data-testid=bot]').length == n", answers)
        wait_until(page, "document.querySelectorAll('#products img').length == 6")
        page.locator("#need .token").first.wait_for(timeout=WAIT)
        assert page.locator("#need .token").all_inner_texts() == need
        page.screenshot(path=shots / "10-after-reload.png")

        page.locator("#chat .option", has_text="why #1?").click()
        wait_until(page, "document.querySelector('#busy-text') && "
                               "document.querySelector('#busy-text').innerText.includes('Writing')")
        page.screenshot(path=shots / "11-writing.png")
        try:                       # explanations take about a second now: Stop may come too late
            page.locator("#stop").click(timeout=5000)
            stopped = True
        except PlaywrightTimeout:
            stopped = False
        bot_says(page, "")
        if stopped:                # stopping itself is tested deterministically in test_agent
            wait_until(page, "[...document.querySelectorAll('[data-testid=bot]')]"
                                   ".some(e => e.innerText.includes('(stopped)') || e.innerText.includes('.'))")
        page.locator("#stop").wait_for(state="hidden")
        ask(page, "why #2?")                           # the model is free: the next one is written
        wait_until(page, "document.querySelector('#why-text').innerText.includes('Explanation:')")
        assert page.locator("#stop").is_hidden()

        page.locator("#new-chat").click()
        wait_until(page, "document.querySelectorAll('[data-testid=bot]').length == 0")
        assert page.locator("#products img").count() == 0
        page.reload()
        page.locator("#query textarea").wait_for(timeout=WAIT)
        assert bots(page) == 0                         # the new chat is the one kept

        page = signed_in(browser, server.url)
        wait_until(page, "document.querySelector('#feedback').innerText.includes('refine')")
        assert "down" in page.locator("#feedback").inner_text()
        page.locator("#by-source input").click()
        page.get_by_role("option", name="template").click()
        wait_until(page, "!document.querySelector('#ratings').innerText.includes('llm review')")
        assert "template review" in page.locator("#ratings").inner_text()
        page.locator("#ratings-summary").wait_for(timeout=WAIT)
        page.screenshot(path=shots / "12-analyst-filters.png", full_page=True)

        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                    has_touch=True).new_page()
        phone.goto(server.url)
        phone.locator("#query textarea").wait_for(timeout=WAIT)
        for _ in range(60):                            # keyboard only: tab to the query box
            phone.keyboard.press("Tab")
            if phone.evaluate("document.activeElement?.closest('#query') != null"):
                break
        phone.keyboard.type("backpacks")
        phone.keyboard.press("Enter")
        bot_says(phone, "Here are")
        wait_until(phone, "document.querySelectorAll('#products img').length > 0")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390   # no sideways scroll
        phone.locator("#chat .option", has_text="more like #1").focus()
        phone.keyboard.press("Enter")
        bot_says(phone, "Products like")
        phone.screenshot(path=shots / "13-phone.png", full_page=True)
    finally:
        server.stop()


def test_embedded_in_a_shop_page(index_dir, tmp_path, browser, shots):
    site = Server(["ui.site", "--index", str(index_dir), "--ratings", str(tmp_path / "r.sqlite")])
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(site.url)
        assert "Example shop" in page.locator("header").inner_text()
        frame = page.frame_locator("#assistant")
        frame.locator("#query textarea").fill("backpacks")
        frame.locator("#send").click()
        frame.locator("#products img").first.wait_for(timeout=WAIT)
        page.screenshot(path=shots / "7-embedded.png")
    finally:
        site.stop()


def test_demo_api_mcp_and_bad_uploads(index_dir, tmp_path):
    """``--demo`` prints a conversation before serving; the programmatic API (gradio_client):
    search, chat, uploads that are not photos; the MCP tools over HTTP (the ``mcp`` client)."""
    from gradio_client import Client, handle_file
    from PIL import Image

    server = Server(["ui", "--demo", "--index", str(index_dir), "--ratings",
                     str(tmp_path / "r.sqlite")])
    try:
        for _ in range(60):                  # the URL is printed once the server is up
            server.log.seek(0)
            printed = server.log.read()
            if "The assistant is at" in printed:
                break
            time.sleep(0.5)
        assert "shopper> show me tshirts for men" in printed and "assistant> Here are" in printed
        assert f"The assistant is at {server.url}" in printed
        client = Client(server.url, verbose=False)
        found = json.loads(client.predict("black backpack", 3, api_name="/search"))
        assert len(found) == 3 and {"id", "title", "score", "price", "image", "why"} <= set(found[0])
        out = client.predict("show me backpacks", None, None, api_name="/chat")
        assert out[0][-1]["content"][0]["text"].startswith("Here are")
        token = out[11]                                # the session: "the second one" resolves
        out = client.predict("more like the second one", None, token, api_name="/chat")
        assert out[0][-1]["content"][0]["text"].startswith("Products like") and out[11] == token
        not_image = tmp_path / "photo.jpg"
        not_image.write_text("this is not a photo")
        huge = tmp_path / "huge.png"
        Image.new("RGB", (9000, 9000), "white").save(huge)
        for path, message in ((not_image, "not an image"), (huge, "megapixels")):
            out = client.predict("", handle_file(str(path)), None, api_name="/chat")
            assert message in out[0][-1]["content"][0]["text"]
        # Files: the catalogue's photos are served, nothing else of the machine.
        photo = found[0]["image"]
        for path, status in ((photo, 200), ("/etc/passwd", 403), (__file__, 403)):
            try:
                code = urllib.request.urlopen(f"{server.url}gradio_api/file={path}").status
            except urllib.error.HTTPError as exc:
                code = exc.code
            assert code == status, path
        # No analysts configured: no analyst area, and the shop's API has no rating endpoint.
        for path in ("analyst/", "analyst/config"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{server.url}{path}")
            assert refused.value.code == 404
        assert "/rate" not in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        with ThreadPoolExecutor(1) as pool:      # its own event loop (Playwright's runs here)
            tools, results = pool.submit(asyncio.run, mcp_session(f"{server.url}gradio_api/mcp/",
                                                                  found[0]["id"])).result()
    finally:
        server.stop()
    assert set(tools) == {"search", "similar", "refine", "complete_the_look", "explain"}
    assert {"query", "k", "gender", "price_max"} <= set(tools["search"]["properties"])
    searched, similar, unknown, explained = results
    assert not searched.isError and "Backpack" in searched.content[0].text
    assert not similar.isError and found[0]["id"] not in similar.content[0].text
    assert unknown.isError and "'no-such-id' is not in this index" in unknown.content[0].text
    assert not explained.isError and "Backpacks" in explained.content[0].text


def test_explanations_in_flight_do_not_hold_up_searches(index_dir, tmp_path):
    """Five shoppers ask "why the first one?" at once (heat-maps and the LLM, worked out one at a
    time in the background); while they are in flight, another shopper's search and chat turn
    are answered before the first explanation is done, and every explanation still arrives."""
    from gradio_client import Client
    from gradio_client.utils import Status

    server = Server(["ui", "--index", str(index_dir), "--ratings", str(tmp_path / "r.sqlite")])
    try:
        client = Client(server.url, verbose=False)
        tokens = [client.predict("show me backpacks", None, None, api_name="/chat")[11]
                  for _ in range(5)]
        whys = [client.submit("why the first one?", None, token, api_name="/chat") for token in tokens]
        while not all(job.status().code in (Status.IN_QUEUE, Status.PROCESSING, Status.ITERATING,
                                            Status.PROGRESS, Status.FINISHED) for job in whys):
            time.sleep(0.05)                                 # every explanation is with the app
        found = json.loads(client.predict("black backpack", 3, api_name="/search"))
        out = client.predict("show me watches", None, None, api_name="/chat")
        assert not any(job.done() for job in whys), "a search waited for an explanation"
        assert len(found) == 3 and out[0][-1]["content"][0]["text"].startswith("Here are")
        for job in whys:
            answer = job.result(timeout=600)
            said = answer[0][-1]["content"][0]["text"]
            assert said and not said.startswith("Sorry") and answer[3], said   # text and heat-map
    finally:
        server.stop()


async def mcp_session(url: str, product_id: str) -> tuple[dict, list]:
    """List the tools and call a few, as an MCP client (Claude Desktop, an agent) would."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as mcp:
        await mcp.initialize()
        tools = {t.name: t.inputSchema for t in (await mcp.list_tools()).tools}
        results = [await mcp.call_tool("search", {"query": "black backpack", "k": 3}),
                   await mcp.call_tool("similar", {"product_id": product_id, "k": 3}),
                   await mcp.call_tool("similar", {"product_id": "no-such-id"}),
                   await mcp.call_tool("explain", {"product_id": product_id,
                                                   "query": "black backpack"})]
    return tools, results


def test_analyst_charts(index_dir):
    """The charts draw from the index itself: every product counted, every cluster coloured."""
    from retrieval import Searcher
    from ui import charts

    searcher = Searcher(index_dir)
    n = len(searcher.index)
    fig = charts.cluster_map(searcher)
    assert len(fig.axes[0].collections[0].get_offsets()) == min(n, charts.MAP_POINTS)
    typed = searcher.index.db.execute(
        "SELECT COUNT(*) FROM products WHERE article_type IS NOT NULL").fetchone()[0]
    fig = charts.type_by_gender(searcher, top=500)
    assert sum(bar.get_width() for bar in fig.axes[0].patches) == typed
    fig = charts.colour_by_season(searcher)
    grid = fig.axes[0].images[0].get_array()
    assert np.allclose(grid.sum(axis=0), 1.0)               # shares within each season
    fig = charts.deletion_curves(None)
    assert "no faithfulness benchmark" in fig.axes[0].texts[0].get_text()
