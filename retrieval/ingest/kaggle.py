"""Kaggle's Fashion Product Images layout: styles.csv, images/<id>.jpg, optional styles_full.jsonl.gz."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from ..store.products import Product
from .common import CatalogBuilder, clean, csv_rows, parse_price, parse_year
from .report import IngestReport

COLUMNS = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season",
           "year", "usage", "productDisplayName"]
# Fields whose absence is worth a line in the report (the rest are optional).
EXPECTED = {"gender", "masterCategory", "subCategory", "articleType", "baseColour", "season",
            "usage", "productDisplayName"}


def is_kaggle_layout(path: Path) -> bool:
    return (path / "styles.csv").is_file()


def read_rich_fields(path: Path, report: IngestReport) -> dict[str, dict]:
    """id -> the richer record of styles_full.jsonl.gz; bad lines are reported and skipped."""
    records: dict[str, dict] = {}
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    rec = json.loads(line)
                    records[str(rec["id"])] = rec
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    report.add(path, number, None, None, f"invalid JSON line: {exc}", "skipped")
    except (OSError, EOFError) as exc:
        report.add(path, None, None, None, f"unreadable file, richer fields ignored: {exc}", "skipped")
    return records


def read_kaggle(root: Path, report: IngestReport, builder: CatalogBuilder) -> None:
    styles = root / "styles.csv"
    rich_path = root / "styles_full.jsonl.gz"
    rich = read_rich_fields(rich_path, report) if rich_path.is_file() else {}
    rows = csv_rows(styles, report)
    _, header = next(rows, (0, []))
    if [h.strip() for h in header[:len(COLUMNS)]] != COLUMNS:
        report.add(styles, 1, None, None, f"unexpected header {header}, expected {COLUMNS}", "repaired")
    for number, fields in rows:
        if builder.full:
            break
        report.rows_read += 1
        pid = clean(fields[0]) if fields else None
        if pid is None:
            report.add(styles, number, None, "id", "missing or empty field", "skipped")
            continue
        if len(fields) > len(COLUMNS):
            # Kaggle's file has product names with unquoted commas: the name is the last column,
            # so the extra fields belong to it.
            report.add(styles, number, pid, "productDisplayName",
                       f"wrong field count: {len(fields)} fields, expected {len(COLUMNS)}; "
                       "extra commas joined into the name", "repaired")
            fields = fields[:len(COLUMNS) - 1] + [",".join(fields[len(COLUMNS) - 1:])]
        elif len(fields) < len(COLUMNS):
            report.add(styles, number, pid, None,
                       f"wrong field count: {len(fields)} fields, expected {len(COLUMNS)}; "
                       "missing trailing fields left empty", "degraded")
            fields = fields + [""] * (len(COLUMNS) - len(fields))
        row = dict(zip(COLUMNS, fields))
        for name in sorted(EXPECTED):
            if clean(row[name]) is None:
                report.add(styles, number, pid, name, "missing or empty field", "degraded")
        extra = rich.get(pid, {})
        attributes = {k: v for k, v in (extra.get("articleAttributes") or {}).items()
                      if clean(v) and k != "Body or Garment Size"}
        image = root / "images" / f"{pid}.jpg"
        product = Product(
            id=pid,
            title=clean(row["productDisplayName"]) or "",
            gender=clean(row["gender"]),
            category=clean(row["masterCategory"]),
            subcategory=clean(row["subCategory"]),
            article_type=clean(row["articleType"]),
            colour=clean(row["baseColour"]),
            season=clean(row["season"]),
            usage=clean(row["usage"]),
            year=parse_year(row["year"], report, styles, number, pid),
            brand=clean(extra.get("brandName")),
            price=parse_price(extra.get("discountedPrice") or extra.get("price"), report, rich_path,
                              None, pid) if extra else None,
            description=clean(extra.get("description")) or "",
            composition=clean(extra.get("materials_care_desc")) or "",
            attributes=attributes,
            image_path=str(image),
            source="kaggle",
        )
        builder.add(product, styles, number, required=())
