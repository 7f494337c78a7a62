"""What the app shows for an agent answer: gallery items, the "why?" panel, the detail view.
Catalogue, shopper and LLM text goes into the app's Markdown escaped (``md``): shown as text."""
from __future__ import annotations

import base64
import io

from PIL import Image

from agent.calls import Card
from retrieval import Product

from .escape import md


def caption(card: Card) -> str:
    price = f"₹{card.price:,.0f}" if card.price is not None else "price n/a"
    score = f" · score {card.score:.2f}" if card.score is not None else ""
    return f"{card.title}\n{price}{score}"


def gallery(cards: list[Card]) -> list[tuple[str, str]]:
    """(photo, caption) per product with a photo; products without one show a blank tile."""
    return [(c.image or _blank(), caption(c)) for c in cards]


def _blank() -> Image.Image:
    return Image.new("RGB", (60, 80), "white")


def heatmap_image(card: Card, height: int = 320) -> Image.Image | None:
    """The Grad-CAM overlay, enlarged to ``height`` pixels (catalogue photos are small)."""
    png = (card.evidence.get("heatmap") or {}).get("png_base64")
    if not png:
        return None
    image = Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB")
    return image.resize((round(image.width * height / image.height), height), Image.BICUBIC)


def weighted_words(card: Card) -> list[tuple[str, float | None]]:
    """The product text with each word's attribution, scaled to [-1, 1] for colouring."""
    words = (card.evidence.get("product_words") or {}).get("words") or []
    if not words:
        return []
    top = max(abs(w["weight"]) for w in words) or 1.0
    return [(w["word"] + " ", round(w["weight"] / top, 3)) for w in words]


def why_markdown(card: Card) -> str:
    ev = card.evidence
    status = {"llm": "worded by the local LLM from claims chosen by code",
              "template": "written from claims chosen by code"}.get(card.explanation_source,
                                                                   card.explanation_source)
    lines = [f"**{md(card.title)}** ({md(card.id)})", "", md(card.explanation), "",
             f"*Explanation: {md(status)}.*"]
    g = card.grounding or {}
    if g.get("reason"):
        lines.append(f"*The model's text was not used: {md(g['reason'])}.*")
    for s in g.get("sentences") or []:
        lines.append(f"- \"{md(s['text'])}\" states *{md(s['claim'])}*: {md(s['evidence'])}")
    sims = md(", ".join(f"{k} {v:.2f}" for k, v in (ev.get("similarity") or {}).items()))
    if sims:
        lines.append(f"- similarity: {sims}")
    for k, v in (ev.get("shared") or {}).items():
        lines.append(f"- same {md(k.replace('_', ' '))}: {md(v)}")
    for c in ev.get("constraints") or []:
        lines.append(f"- satisfies {md(c)}")
    if ev.get("popularity") is not None:
        lines.append(f"- among the most bought products (popularity {ev['popularity']:.2f} of 1)")
    if ev.get("cluster"):
        lines.append(f"- catalogue group: {md(ev['cluster']['name'])}")
    if ev.get("complement"):
        lines.append(f"- goes with it: {md(ev['complement']['reason'])}")
    standout = ev.get("standout") or {}
    if standout.get("values"):
        lines.append(f"- unlike the other {standout['shown'] - 1} shown: " + md(", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in standout["values"].items())))
    if standout.get("cheapest"):
        lines.append(f"- the lowest price of the {standout['shown']} shown")
    if ev.get("region"):
        lines.append(f"- part of the photo that matched most: {md(ev['region'])}")
    if ev.get("asked"):
        lines.append("- you asked for: " + md(", ".join(f"{k.replace('_', ' ')} {v}"
                                                        for k, v in ev["asked"].items())))
    return "\n".join(lines)


def need_chips(filters: dict) -> dict[str, str]:
    """The shopper's active need as chip labels, by filter: "colour: Navy Blue", "under ₹1,500"."""
    chips = {}
    for key, value in filters.items():
        if key == "price_max":
            chips[key] = f"under ₹{value:,.0f}"
        elif key == "price_min":
            chips[key] = f"over ₹{value:,.0f}"
        else:
            shown = " or ".join(value) if isinstance(value, list) else value
            chips[key] = f"{key.replace('_', ' ')}: {shown}"
    return chips


def product_markdown(product: Product) -> str:
    """A product's detail view: title, brand, price, attributes and description."""
    price = f"₹{product.price:,.0f}" if product.price is not None else "price n/a"
    lines = [f"### {md(product.title)}",
             f"**{md(product.brand or 'Brand n/a')}** · {md(price)} · id {md(product.id)}", ""]
    fields = {"kind": product.article_type, "for": product.gender, "colour": product.colour,
              "season": product.season, "usage": product.usage, "year": product.year,
              **product.attributes}
    lines += [f"- {md(k)}: {md(v)}" for k, v in fields.items() if v not in (None, "")]
    if product.composition:
        lines.append(f"- material: {md(product.composition)}")
    if product.description:
        lines += ["", md(product.description)]
    return "\n".join(lines)
