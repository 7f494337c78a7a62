"""The app as shoppers, analysts and shops use it: the real server (``python -m ui``) driven in
headless Chromium (Debian's package, installed by ``make``) with Playwright; screenshots of each
step go to ``runs/screenshots`` (or ``FASHION_SCREENSHOTS``)."""
from __future__ import annotations

import os
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from servers import Server

from retrieval.settings import runs_dir

pytestmark = pytest.mark.slow           # end to end: a served app in Chromium

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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
    page.wait_for_function(
        "p => [...document.querySelectorAll('[data-testid=bot]')].some(e => e.innerText.startsWith(p))",
        arg=prefix, timeout=WAIT)


def select(page, n: int) -> None:
    page.locator("#products .thumbnail-item").nth(n - 1).click()
    page.wait_for_function("n => document.querySelector('#selected').innerText.includes('#' + n)",
                           arg=n, timeout=WAIT)


def ask(page, text: str) -> None:
    page.locator("#query textarea").fill(text)
    page.locator("#send").click()


def test_shopper_and_analyst_in_chromium(index_dir, tmp_path, browser, shots):
    ratings = tmp_path / "ratings.sqlite"
    server = Server(["ui", "--index", str(index_dir), "--ratings", str(ratings)])
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1100})
        page.goto(server.url)
        ask(page, "show me tshirts for men")
        bot_says(page, "Here are 6 products")
        page.wait_for_function("document.querySelectorAll('#products img').length == 6",
                               timeout=WAIT)
        assert page.locator("#products").inner_text().count("score") == 6    # card captions
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
        page.wait_for_function("document.querySelector('#why-text').innerText.includes('Explanation:')",
                               timeout=WAIT)
        why = page.locator("#why-text").inner_text()
        assert "grounded in the evidence" in why or "template" in why
        assert page.locator("#why-panel img").count() >= 1                  # the Grad-CAM overlay
        page.screenshot(path=shots / "4-why.png", full_page=True)

        page.get_by_role("tab", name="Analyst review").click()
        page.locator("#sample").click()
        page.wait_for_function("document.querySelector('#review-text').innerText.includes('Explanation:')",
                               timeout=WAIT)
        page.locator("#clarity input[type=number]").fill("4")
        page.locator("#comment textarea").fill("clear, cites the colour")
        page.locator("#flag input").check()
        page.locator("#save-rating").click()
        page.wait_for_function("document.querySelector('#rating-status').innerText.includes('Saved rating #1')",
                               timeout=WAIT)
        page.screenshot(path=shots / "5-rating.png", full_page=True)
    finally:
        server.stop()

    # The rating is in the database file, and the restarted app lists it.
    row = sqlite3.connect(ratings).execute(
        "SELECT clarity, flagged, comment FROM ratings").fetchall()
    assert row == [(4, 1, "clear, cites the colour")]
    server = Server(["ui", "--index", str(index_dir), "--ratings", str(ratings)])
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1100})
        page.goto(server.url)
        page.get_by_role("tab", name="Analyst review").click()
        page.wait_for_function("document.querySelector('#ratings').innerText.includes('cites the colour')",
                               timeout=WAIT)
        page.screenshot(path=shots / "6-rating-after-restart.png", full_page=True)
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


def test_api_and_bad_uploads(index_dir, tmp_path):
    """The programmatic API (gradio_client): search, chat, and uploads that are not photos."""
    from gradio_client import Client, handle_file
    from PIL import Image

    server = Server(["ui", "--index", str(index_dir), "--ratings", str(tmp_path / "r.sqlite")])
    try:
        client = Client(server.url, verbose=False)
        found = client.predict("black backpack", 3, api_name="/search")
        assert len(found) == 3 and {"id", "title", "score", "price", "image"} <= set(found[0])
        out = client.predict("show me backpacks", None, [], api_name="/chat")
        assert out[0][-1]["content"][0]["text"].startswith("Here are")
        not_image = tmp_path / "photo.jpg"
        not_image.write_text("this is not a photo")
        huge = tmp_path / "huge.png"
        Image.new("RGB", (9000, 9000), "white").save(huge)
        for path, message in ((not_image, "not an image"), (huge, "megapixels")):
            out = client.predict("", handle_file(str(path)), [], api_name="/chat")
            assert message in out[0][-1]["content"][0]["text"]
        # Files: the catalogue's photos are served, nothing else of the machine.
        photo = found[0]["image"]
        for path, status in ((photo, 200), ("/etc/passwd", 403), (__file__, 403)):
            try:
                code = urllib.request.urlopen(f"{server.url}gradio_api/file={path}").status
            except urllib.error.HTTPError as exc:
                code = exc.code
            assert code == status, path
    finally:
        server.stop()


def test_analyst_charts(index_dir):
    """The charts draw from the index itself: every product counted, every cluster coloured."""
    from retrieval.search import Searcher
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
