"""The served app (``python -m ui`` as its own process) probed over HTTP as a hostile visitor:
file routes asked for files outside the catalogue's photos (plain, encoded, traversing, through a
planted symbolic link), oversized and malformed uploads, markup in chat turns, the analyst area
and its data asked for without signing in (its page, config, API, ratings, export; the shop's
API and MCP tools), the headers every response must carry, and concurrent ratings with markup in
them by a signed-in analyst, read back from the SQLite file afterwards.

Counted per probe: ``crashed`` (an exception, a 5xx or an app that stopped answering),
``leaked`` (a file outside the photos served, or analyst data reached without signing in),
``lost`` (an accepted rating not stored, or not stored as sent), ``accepted`` (an oversized
upload, an invalid rating, or a rating by someone not signed in taken; a missing header).
"""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from explain.ratings import RatingStore

from ..serving import start_app

RATINGS = 20
ANALYST = ("analyst", "robustness-password")
ANALYST_MARKERS = (b'"save-rating"', b'"ratings-summary"', b'"api_name":"rate"', b"Shoppers' thumbs")
HEADERS = {"content-security-policy": "frame-ancestors", "x-content-type-options": "nosniff",
           "referrer-policy": "same-origin"}
MARKUP = ('<img src=x onerror="alert(1)">', "<script>alert('x')</script>", "**bold** [x](javascript:alert(1))",
          "'; DROP TABLE ratings; --", "\u202e\u0000 nul and rtl", "{{7*7}} ${7*7}")


@dataclass
class Outcome:
    probe: str
    crashed: str = ""
    leaked: bool = False
    lost: bool = False
    accepted: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.crashed or self.leaked or self.lost or self.accepted)


def fetch(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def signed_in_control(url: str) -> Outcome:
    """Signed in through the login form, the analyst's config holds what the probes look for
    (else they would prove nothing)."""
    import http.cookiejar

    o = Outcome("signed in, the analyst area is served (control)")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = urllib.parse.urlencode({"username": ANALYST[0], "password": ANALYST[1]}).encode()
    try:
        opener.open(f"{url}analyst/login", form, timeout=30).read()
        config = opener.open(f"{url}analyst/config", timeout=30).read()
        o.crashed = "" if all(m in config for m in ANALYST_MARKERS[:2]) else \
            "the signed-in config lacks the markers: the probes below would prove nothing"
    except urllib.error.HTTPError as exc:
        o.crashed = f"sign-in failed: status {exc.code}"
    return o


def access_probes(url: str, ratings: Path, product_id: str) -> list[Outcome]:
    """A shopper (not signed in) asks for the analyst area and its data every way there is."""
    from gradio_client import Client

    out = [signed_in_control(url)]
    analyst = f"{url}analyst/"
    for route in ("config", "gradio_api/info", "gradio_api/queue/join", "gradio_api/call/rate",
                  "gradio_api/run/rate", "gradio_api/api/rate"):
        o = Outcome(f"not signed in: {'POST' if 'rate' in route else 'GET'} /analyst/{route}")
        body = json.dumps({"data": [product_id, "q", "e", "llm", 3, 3]}).encode() \
            if "rate" in route else None
        status, content = fetch(analyst + route, body)
        o.crashed = f"status {status}" if status >= 500 else ""
        o.leaked = status < 400 and any(m in content for m in ANALYST_MARKERS)
        out.append(o)
    o = Outcome("not signed in: gradio_client on the analyst area")
    try:
        Client(analyst, verbose=False).predict(product_id, "q", "e", "llm", 3, 3, api_name="/rate")
        o.accepted = True
    except Exception:  # noqa: BLE001, S110 - refused, as it should be
        pass
    out.append(o)
    o = Outcome("the shop's API: no rate endpoint, no analyst component")
    client = Client(url, verbose=False)
    try:
        client.predict(product_id, "q", "e", "llm", 3, 3, api_name="/rate")
        o.accepted = True
    except Exception:  # noqa: BLE001, S110 - there is no such endpoint
        pass
    _, config = fetch(f"{url}config")
    _, info = fetch(f"{url}gradio_api/info")
    o.leaked = any(marker in config + info for marker in ANALYST_MARKERS)
    out.append(o)
    for name, route in (("the export", ratings.with_suffix(".csv")), ("the database", ratings)):
        o = Outcome(f"the shop's file route: {name}")
        status, _ = fetch(f"{url}gradio_api/file={route}")
        o.leaked = status == 200
        out.append(o)
    if stored(ratings):
        out.append(Outcome("no rating stored by a visitor not signed in", accepted=True))
    for page in ("", "analyst/", "gradio_api/mcp/"):
        o = Outcome(f"headers of /{page}")
        with _open_any(url + page) as resp:
            headers = {k.lower(): v for k, v in resp.headers.items()}
        o.accepted = any(value not in headers.get(name, "") for name, value in HEADERS.items())
        out.append(o)
    return out


def stored(ratings: Path) -> list:
    """The ratings in the app's database, read through the ratings store."""
    store = RatingStore(ratings)
    try:
        return store.all()
    finally:
        store.close()


def _open_any(url: str):
    """The response to GET ``url`` whatever its status (an error response has headers too)."""
    try:
        return urllib.request.urlopen(url, timeout=30)
    except urllib.error.HTTPError as exc:
        return exc


def file_probes(url: str, photo: str, shop: Path, index: Path, ratings: Path) -> list[Outcome]:
    """The photo must be served (else the probes test nothing); nothing else may be."""
    images = Path(photo).parent
    (images / "innocent.jpg").symlink_to("/etc/passwd")
    secrets = {"/etc/passwd": b"root:", str(shop / "catalog.csv"): b"id,title",
               str(index / "CURRENT"): b"gen-", str(ratings): b"SQLite format",
               str(images / "innocent.jpg"): b"root:"}
    secrets.update({str(g / "catalog.sqlite"): b"SQLite format" for g in index.glob("gen-*")})
    asked = []
    for path, marker in secrets.items():
        asked += [(path, marker), (urllib.parse.quote(path, safe=""), marker)]
    up = "/".join([".."] * (len(images.parts) + 2))
    asked += [(f"{images}/{up}/etc/passwd", b"root:"), (f"{images}/%2e%2e/%2e%2e/catalog.csv", b"id,title"),
              (f"{images}/..%2f..%2fcatalog.csv", b"id,title"), (f"{images}/%252e%252e/catalog.csv", b"id,title"),
              (f"{images}/../../catalog.csv", b"id,title")]
    out = []
    status, body = fetch(f"{url}gradio_api/file={photo}")
    control = Outcome("the catalogue's photo is served (control)")
    if status != 200 or not body:
        control.crashed = f"status {status}: the probes below would prove nothing"
    out.append(control)
    for route in ("gradio_api/file=", "file=", "gradio_api/file/"):
        for path, marker in asked:
            o = Outcome(f"GET /{route}{path[:70]}")
            status, body = fetch(f"{url}{route}{path}")
            o.crashed = f"status {status}" if status >= 500 else ""
            o.leaked = status == 200 and marker in body
            out.append(o)
    return out


def upload_probes(url: str, work: Path) -> list[Outcome]:
    from gradio_client import Client, handle_file

    work.mkdir(parents=True, exist_ok=True)
    big = work / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"0" * (11 * 2**20))
    out = []
    o = Outcome("upload of an 11 MB file")
    boundary = "robustness-boundary"
    data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{url}gradio_api/upload", data=data, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            o.accepted = resp.status == 200
    except urllib.error.HTTPError as exc:
        o.crashed = f"status {exc.code}" if exc.code >= 500 else ""
    out.append(o)
    files = {"text named .jpg": b"this is not a photo", "zero bytes": b"",
             "truncated JPEG": _jpeg()[:300], "SVG": b'<svg xmlns="http://www.w3.org/2000/svg"/>'}
    bomb = work / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)
    client = Client(url, verbose=False)
    for name, content in files.items():
        path = work / f"{name.replace(' ', '-')}.jpg"
        path.write_bytes(content)
        out.append(_chat(client, f"photo: {name}", "", handle_file(str(path))))
    out.append(_chat(client, "photo: decompression bomb", "", handle_file(str(bomb))))
    for text in MARKUP:
        out.append(_chat(client, f"chat: {text[:40]!r}", text, None))
    return out


def _jpeg() -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (300, 400), "navy").save(buf, "JPEG")
    return buf.getvalue()


def _chat(client, probe: str, text: str, photo) -> Outcome:
    o = Outcome(probe)
    try:
        reply = client.predict(text, photo, None, api_name="/chat")[0][-1]["content"][0]["text"]
        o.crashed = "" if reply and not reply.startswith("Sorry, something went wrong") else f"reply: {reply[:80]!r}"
    except Exception as exc:  # noqa: BLE001 - counted
        o.crashed = f"{type(exc).__name__}: {exc}"[:200]
    return o


def rating_probes(url: str, ratings: Path, product_id: str) -> list[Outcome]:
    """``RATINGS`` ratings at once (markup in their texts), then invalid ones; the database must
    hold exactly the valid ones, as sent."""
    from gradio_client import Client

    analyst = f"{url}analyst/"
    sent, errors, lock = [], [], threading.Lock()

    def rate(i: int) -> None:
        texts = (f"query {i} {MARKUP[i % len(MARKUP)]}", f"comment {i} {MARKUP[(i + 1) % len(MARKUP)]}")
        try:
            rid = Client(analyst, auth=ANALYST, verbose=False).predict(
                product_id, texts[0], "an explanation", "llm", 1 + i % 5, 5 - i % 5, i % 2 == 0,
                texts[1], api_name="/rate")
            with lock:
                sent.append((int(rid), texts))
        except Exception as exc:  # noqa: BLE001
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=rate, args=(i,)) for i in range(RATINGS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    o = Outcome(f"{RATINGS} concurrent ratings with markup")
    o.crashed = "; ".join(errors[:3])
    kept = {r.id: (r.query, r.comment) for r in stored(ratings)}
    o.lost = len(sent) != RATINGS or any(kept.get(rid) != texts for rid, texts in sent)
    out = [o]
    client = Client(analyst, auth=ANALYST, verbose=False)
    for probe, args in (("rating with clarity 9", (product_id, "q", "e", "llm", 9, 3)),
                        ("rating of an unknown product", ("no-such-product", "q", "e", "llm", 3, 3)),
                        ("rating with text as a score", (product_id, "q", "e", "llm", "five", 3))):
        o = Outcome(probe)
        try:
            client.predict(*args, api_name="/rate")
            o.accepted = True
        except Exception as exc:  # noqa: BLE001 - an error is the expected answer
            o.crashed = "" if "error" in type(exc).__name__.lower() else f"{type(exc).__name__}: {exc}"[:200]
        out.append(o)
    if len(stored(ratings)) != len(sent):
        out[-1].accepted = True
    return out


def run_app(index: Path, shop: Path, work: Path, product_id: str, photo: str) -> list[Outcome]:
    ratings = work / "ratings.sqlite"
    work.mkdir(parents=True, exist_ok=True)
    (work / "analysts.txt").write_text(f"{ANALYST[0]}:{ANALYST[1]}\n")
    proc, url = start_app(str(index), str(ratings), analysts=str(work / "analysts.txt"))
    try:
        out = file_probes(url, photo, shop, index, ratings)
        out += access_probes(url, ratings, product_id)
        out += upload_probes(url, work / "uploads")
        out += rating_probes(url, ratings, product_id)
        alive = Outcome("the app still answers after every probe")
        status, _ = fetch(url)
        alive.crashed = "" if status == 200 and proc.poll() is None else f"status {status}"
        out.append(alive)
    finally:
        proc.terminate()
        proc.wait(30)
    return out
