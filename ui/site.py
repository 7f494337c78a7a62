"""``python -m ui.site``: an example shop page that embeds the assistant, for shops to copy and
for the embedding test. The app is mounted into this FastAPI site at ``/assistant`` (Gradio's
mounting API); the page at ``/`` embeds it in an iframe."""
from __future__ import annotations

import argparse

from fastapi import FastAPI

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example shop</title>
<style>body{font-family:sans-serif;margin:0}header{padding:12px 24px;background:#222;color:#fff}
iframe{border:0;width:100%;height:1400px}</style></head>
<body><header><strong>Example shop</strong> · our catalogue, with the shopping assistant below</header>
<iframe id="assistant" src="/assistant/" title="Shopping assistant" allow="clipboard-write"></iframe>
</body></html>"""


def create_site(index: str | None = None, ratings: str | None = None,
                analysts: str | None = None) -> FastAPI:
    from fastapi.responses import HTMLResponse

    from .server import mount

    site = FastAPI(title="Example shop")

    @site.get("/", response_class=HTMLResponse)
    def home() -> str:
        return PAGE

    return mount(site, "/assistant", index, ratings, analysts)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m ui.site", description=__doc__)
    p.add_argument("--index")
    p.add_argument("--ratings")
    p.add_argument("--analysts", help="file of name:password lines: the analyst area at "
                                      "/assistant/analyst/ (off without it)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    args = p.parse_args(argv)
    uvicorn.run(create_site(args.index, args.ratings, args.analysts), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
