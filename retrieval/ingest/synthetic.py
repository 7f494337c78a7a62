"""A small generated catalogue in Kaggle's layout, for tests and for a demo without the real data:
drawn photos (a garment shape per kind, in the product's colour, on white), titles, attributes,
brands, prices and genders over several kinds, and a few same-day purchases (``transactions.csv``,
the H&M columns) that pair tops with bottoms and accessories."""
from __future__ import annotations

import csv
import gzip
import json
import random
from datetime import date, timedelta
from pathlib import Path

from PIL import Image, ImageDraw

from .kaggle import COLUMNS

SIZE = (60, 80)             # Myntra's photo size (width, height)
COLOURS = {"Red": (200, 30, 40), "Blue": (40, 90, 210), "Navy Blue": (20, 30, 90), "Black": (25, 25, 25),
           "Green": (40, 150, 60), "Yellow": (235, 200, 30), "Pink": (240, 130, 170),
           "Grey": (130, 130, 130), "Brown": (120, 70, 30), "Orange": (240, 120, 20),
           "Purple": (120, 50, 150), "Beige": (205, 180, 140)}
# kind: (masterCategory, subCategory, genders, usages, fabrics, price range in INR)
KINDS = {
    "Tshirts": ("Apparel", "Topwear", ["Men", "Women", "Boys", "Girls", "Unisex"], ["Casual", "Sports"],
                ["Cotton", "Polyester"], (299, 1299)),
    "Shirts": ("Apparel", "Topwear", ["Men", "Women", "Boys"], ["Formal", "Casual"], ["Cotton", "Linen"],
               (599, 2499)),
    "Jeans": ("Apparel", "Bottomwear", ["Men", "Women", "Boys", "Girls"], ["Casual"], ["Denim"], (799, 2999)),
    "Dresses": ("Apparel", "Dress", ["Women", "Girls"], ["Casual", "Party"], ["Cotton", "Polyester", "Linen"],
                (699, 3499)),
    "Casual Shoes": ("Footwear", "Shoes", ["Men", "Women", "Unisex"], ["Casual"], ["Leather", "Canvas"],
                     (999, 4999)),
    "Watches": ("Accessories", "Watches", ["Men", "Women", "Unisex"], ["Casual", "Formal"], ["Steel"],
                (1499, 8999)),
    "Belts": ("Accessories", "Belts", ["Men", "Women"], ["Casual", "Formal"], ["Leather"], (299, 1499)),
    "Handbags": ("Accessories", "Bags", ["Women"], ["Casual", "Formal"], ["Leather", "Canvas"], (899, 4999)),
}
SINGULAR = {"Tshirts": "T-shirt", "Shirts": "Shirt", "Jeans": "Jeans", "Dresses": "Dress",
            "Casual Shoes": "Casual Shoes", "Watches": "Watch", "Belts": "Belt", "Handbags": "Handbag"}
BRANDS = ["Northwind", "Kestrel", "Marigold", "Tidewell", "Corvo", "Lumen"]
PATTERNS = ["Solid", "Solid", "Striped", "Checked"]
SEASONS = ["Summer", "Winter", "Fall", "Spring"]
FIRST_ID = 1000000001       # ten digits, as H&M's article ids (the purchase readers pad to ten)


def _outline(kind: str) -> list[tuple[int, int]] | None:
    """The garment's polygon on the 60x80 canvas (None: the kind is drawn by ``_draw``)."""
    return {
        "Tshirts": [(14, 12), (24, 8), (36, 8), (46, 12), (56, 26), (48, 30), (45, 24), (45, 70), (15, 70),
                    (15, 24), (12, 30), (4, 26)],
        "Shirts": [(16, 10), (26, 6), (34, 6), (44, 10), (54, 66), (47, 68), (44, 28), (44, 72), (16, 72),
                   (16, 28), (13, 68), (6, 66)],
        "Jeans": [(16, 6), (44, 6), (48, 76), (34, 76), (30, 30), (26, 76), (12, 76)],
        "Dresses": [(22, 6), (38, 6), (40, 28), (54, 76), (6, 76), (20, 28)],
        "Casual Shoes": [(4, 46), (24, 44), (34, 52), (56, 56), (56, 66), (4, 66)],
    }.get(kind)


def draw_photo(kind: str, rgb: tuple[int, int, int], pattern: str) -> Image.Image:
    """A product photo: the kind's shape filled with ``rgb`` on white, stripes or checks in white."""
    image = Image.new("RGB", SIZE, (255, 255, 255))
    mask = Image.new("L", SIZE, 0)
    pen = ImageDraw.Draw(mask)
    outline = _outline(kind)
    if outline:
        pen.polygon(outline, fill=255)
    elif kind == "Watches":
        pen.rectangle((24, 4, 36, 76), fill=255)
        pen.ellipse((16, 26, 44, 54), fill=255)
    elif kind == "Belts":
        pen.rectangle((2, 34, 58, 46), fill=255)
        pen.rectangle((44, 30, 54, 50), fill=255)
    else:                                   # Handbags: a body and a handle
        pen.rectangle((8, 34, 52, 72), fill=255)
        pen.arc((16, 14, 44, 46), 180, 360, fill=255, width=4)
    fill = Image.new("RGB", SIZE, rgb)
    if pattern != "Solid":
        marks = ImageDraw.Draw(fill)
        for y in range(0, SIZE[1], 8):
            marks.line((0, y, SIZE[0], y), fill=(255, 255, 255), width=2)
        for x in range(0, SIZE[0], 8) if pattern == "Checked" else ():
            marks.line((x, 0, x, SIZE[1]), fill=(255, 255, 255), width=2)
    image.paste(fill, mask=mask)
    return image


def _products(n: int, rng: random.Random) -> list[dict]:
    kinds = list(KINDS)
    rows = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        master, sub, genders, usages, fabrics, (low, high) = KINDS[kind]
        colour, pattern, brand = rng.choice(list(COLOURS)), rng.choice(PATTERNS), rng.choice(BRANDS)
        gender, fabric = rng.choice(genders), rng.choice(fabrics)
        attributes = {"Fabric": fabric, "Pattern": pattern}
        if sub == "Topwear":
            attributes["Sleeve Length"] = "Short Sleeves" if kind == "Tshirts" else rng.choice(
                ["Long Sleeves", "Short Sleeves"])
        price = rng.randrange(low, high, 50)
        rows.append({
            "id": str(FIRST_ID + i), "gender": gender, "masterCategory": master, "subCategory": sub,
            "articleType": kind, "baseColour": colour, "season": rng.choice(SEASONS),
            "year": str(rng.randint(2012, 2018)), "usage": rng.choice(usages),
            "productDisplayName": f"{brand} {gender} {'' if pattern == 'Solid' else pattern + ' '}"
                                  f"{colour} {SINGULAR[kind]}",
            "rich": {"id": FIRST_ID + i, "brandName": brand, "price": price,
                     "discountedPrice": price - price // 10 * rng.choice([0, 0, 1, 2]),
                     "description": f"A {pattern.lower()} {colour.lower()} {fabric.lower()} "
                                    f"{SINGULAR[kind].lower()} by {brand} for {_audience(gender)}.",
                     "materials_care_desc": f"100% {fabric.lower()}", "articleAttributes": attributes},
        })
    return rows


def _audience(gender: str) -> str:
    return {"Men": "men", "Women": "women", "Boys": "boys", "Girls": "girls"}.get(gender, "everyone")


def _purchases(rows: list[dict], rng: random.Random, customers: int) -> list[list[str]]:
    """Same-day baskets: a top with a bottom (or a dress) and an accessory, a few days apart."""
    by_sub: dict[str, list[dict]] = {}
    for row in rows:
        by_sub.setdefault(row["subCategory"], []).append(row)
    accessories = [r for r in rows if r["masterCategory"] in ("Accessories", "Footwear")]
    out = []
    for c in range(customers):
        day = date(2019, 1, 1) + timedelta(days=rng.randrange(300))
        for _ in range(rng.randint(1, 3)):
            basket = ([rng.choice(by_sub["Dress"])] if rng.random() < 0.3 else
                      [rng.choice(by_sub["Topwear"]), rng.choice(by_sub["Bottomwear"])])
            basket.append(rng.choice(accessories))
            for row in basket:
                price = row["rich"]["discountedPrice"] / 100000
                out.append([day.isoformat(), f"customer-{c:03d}", row["id"], f"{price:.4f}", "2"])
            day += timedelta(days=rng.randint(3, 40))
    return out


def write_synthetic_catalogue(folder: str | Path, n: int = 60, seed: int = 0, customers: int = 12) -> Path:
    """Write ``n`` products (``styles.csv``, ``styles_full.jsonl.gz``, ``images/<id>.jpg``) and
    the purchases of ``customers`` customers (``transactions.csv``) into ``folder``; the same
    ``seed`` writes the same files. Returns ``folder``."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = _products(n, rng)
    with open(folder / "styles.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows([row[c] for c in COLUMNS] for row in rows)
    with gzip.GzipFile(folder / "styles_full.jsonl.gz", "wb", mtime=0) as fh:
        fh.write("".join(json.dumps(row["rich"]) + "\n" for row in rows).encode())
    for row in rows:
        photo = draw_photo(row["articleType"], COLOURS[row["baseColour"]], row["rich"]["articleAttributes"]["Pattern"])
        photo.save(folder / "images" / f"{row['id']}.jpg", quality=92)
    with open(folder / "transactions.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["t_dat", "customer_id", "article_id", "price", "sales_channel_id"])
        writer.writerows(_purchases(rows, rng, customers))
    return folder
