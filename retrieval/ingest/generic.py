"""The documented generic catalogue: a CSV or JSONL file of products.

Columns (CSV header or JSON keys): ``id`` (required), ``title``, ``description``,
``composition`` (materials and care), ``image``
(a path relative to the catalogue file's folder, or absolute; it must lead into that folder or
one given with ``--images``), ``price, and optionally
``gender``, ``category``, ``subcategory``, ``article_type``, ``colour``, ``season``, ``usage``,
``brand``, ``year``. Every other column is a free attribute (``fabric``, ``pattern``,
``sleeve length``...); in JSONL an ``attributes`` object may hold them too.
"""
from __future__ import annotations

from pathlib import Path

from ..store.products import Product
from .common import CatalogBuilder, clean, parse_price, parse_year, read_text_table
from .report import IngestReport

NAMED = ("gender", "category", "subcategory", "article_type", "colour", "season", "usage", "brand")
RESERVED = {"id", "title", "description", "composition", "image", "price", "year", "attributes",
            *NAMED}
CATALOG_FILES = ("catalog.jsonl", "catalog.csv", "products.jsonl", "products.csv")


def generic_file(path: Path) -> Path | None:
    """The catalogue file for ``path`` (a file, or a folder holding one of CATALOG_FILES)."""
    if path.is_file():
        return path
    return next((path / n for n in CATALOG_FILES if (path / n).is_file()), None)


def read_generic(file: Path, report: IngestReport, builder: CatalogBuilder) -> None:
    base = file.parent
    for number, row in read_text_table(file, report):
        if builder.full:
            return
        report.rows_read += 1
        for key, value in list(row.items()):
            if isinstance(value, (dict, list)) and key != "attributes":
                report.add(file, number, clean(row.get("id")) if key != "id" else None, str(key),
                           "not a text value: left out", "degraded")
                row[key] = None
        if not isinstance(row.get("attributes") or {}, dict):
            report.add(file, number, None, "attributes", "not an object: left out", "degraded")
            row["attributes"] = None
        pid = clean(row.get("id"))
        if pid is None:
            report.add(file, number, None, "id", "missing or empty field", "skipped")
            continue
        attributes = {str(k): clean(v) for k, v in (row.get("attributes") or {}).items()}
        attributes.update({str(k): clean(v) for k, v in row.items() if k not in RESERVED})
        image = clean(row.get("image"))
        image_path = None
        if image is None:
            report.add(file, number, pid, "image", "missing or empty field", "degraded")
        elif "://" in image:
            report.add(file, number, pid, "image", "URLs are not fetched: give a local path",
                       "degraded")
        else:
            image_path = str((base / image) if not Path(image).is_absolute() else Path(image))
        product = Product(
            id=pid,
            title=clean(row.get("title")) or "",
            description=clean(row.get("description")) or "",
            composition=clean(row.get("composition")) or "",
            price=parse_price(row.get("price"), report, file, number, pid),
            year=parse_year(row.get("year"), report, file, number, pid),
            attributes={k: v for k, v in attributes.items() if v},
            image_path=image_path,
            source="generic",
            **{name: clean(row.get(name)) for name in NAMED},
        )
        builder.add(product, file, number)
