"""Shared row handling for the catalogue readers: decoding, field cleaning, validation."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm

from ..products import Product
from .images import check_image
from .report import IngestReport

MISSING = {"", "na", "n/a", "nan", "null", "none", "-"}


BYTE_ORDER_MARKS = ("\ufeff", "ï»¿")        # the mark, and the mark's UTF-8 bytes read as cp1252


def clean(value) -> str | None:
    """Strip a raw cell (whitespace runs and stray byte-order marks); placeholders such as '' or
    'NA' become None."""
    if value is None:
        return None
    text = str(value)
    for mark in BYTE_ORDER_MARKS:
        text = text.replace(mark, "")
    text = " ".join(text.split())
    return None if text.lower() in MISSING else text


def parse_price(value, report: IngestReport, file, row, pid) -> float | None:
    text = clean(value)
    if text is None:
        return None
    try:
        price = float(text.replace(",", ""))
    except ValueError:
        report.add(file, row, pid, "price", f"not a number: {text!r}", "degraded")
        return None
    if not 0 <= price < 1e9:
        report.add(file, row, pid, "price", f"out of range: {price}", "degraded")
        return None
    return price


def decoded_lines(path: Path, report: IngestReport) -> Iterator[str]:
    """Lines of a text file as UTF-8; lines in another encoding are decoded as cp1252 and reported."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                report.add(path, number, None, None, "bad encoding: not UTF-8, decoded as cp1252",
                           "repaired")
                yield raw.decode("cp1252", errors="replace")


def csv_rows(path: Path, report: IngestReport) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for each data row of a CSV file, header first."""
    reader = csv.reader(decoded_lines(path, report))
    try:
        for fields in reader:
            yield reader.line_num, fields
    except csv.Error as exc:
        report.add(path, reader.line_num, None, None, f"unreadable CSV: {exc}", "skipped")


class CatalogBuilder:
    """Collects products, skipping duplicate ids and reporting missing modalities and fields."""

    def __init__(self, report: IngestReport, check_images: bool = True, limit: int | None = None):
        self.report = report
        self.check_images = check_images
        self.limit = limit
        self.products: list[Product] = []
        self._seen: dict[str, tuple[str, int | None]] = {}

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.products) >= self.limit

    def add(self, product: Product, file, row: int | None, required=("title",)) -> None:
        rep = self.report
        if product.id in self._seen:
            first_file, first_row = self._seen[product.id]
            rep.add(file, row, product.id, "id",
                    f"duplicate id: first seen at {Path(first_file).name}:{first_row}", "skipped")
            return
        for name in required:
            if not getattr(product, name):
                rep.add(file, row, product.id, name, "missing or empty field", "degraded")
        self._seen[product.id] = (str(file), row)
        self.products.append(product)

    def finish(self) -> list[Product]:
        """Check every image (fully decoded); a product keeps whichever modalities are usable."""
        unusable: set[str] = set()
        if self.check_images:
            for p in tqdm(self.products, desc="checking images", unit="img", mininterval=1.0):
                if p.image_path is None:
                    continue
                result = check_image(p.image_path)
                if not result.ok:
                    action = "degraded" if p.has_text else "skipped"
                    self.report.add(p.image_path, None, p.id, "image", result.reason, action)
                    p.image_path = None
                    unusable.add(p.id)
                elif result.reason:
                    self.report.add(p.image_path, None, p.id, "image", result.reason, "repaired")
        kept = []
        for p in self.products:
            if p.has_image or p.has_text:
                kept.append(p)
            elif p.id not in unusable:
                self.report.add(p.source, None, p.id, None, "no usable image and no text", "skipped")
        self.report.products_kept = len(kept)
        return kept


def read_text_table(path: Path, report: IngestReport) -> Iterator[tuple[int, dict]]:
    """Rows of a generic CSV or JSONL file as dicts, with their line numbers."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(decoded_lines(path, report), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                report.add(path, number, None, None, f"invalid JSON: {exc.msg}", "skipped")
                continue
            if not isinstance(row, dict):
                report.add(path, number, None, None, "invalid JSON: not an object", "skipped")
                continue
            yield number, row
        return
    rows = csv_rows(path, report)
    header = next(rows, (0, []))[1]
    for number, fields in rows:
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            report.add(path, number, None, None,
                       f"wrong field count: {len(fields)} fields, expected {len(header)}", "skipped")
            continue
        yield number, dict(zip(header, fields))


def csv_records(path: Path, report: IngestReport,
                required: set[str] = frozenset()) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: cell}) for each data row of a CSV file; a row with the wrong number
    of fields is reported and skipped. A file without a ``required`` column raises ValueError."""
    rows = csv_rows(path, report)
    _, header = next(rows, (0, []))
    missing = set(required) - set(header)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    for number, fields in rows:
        report.rows_read += 1
        if len(fields) != len(header):
            report.add(path, number, None, None,
                       f"wrong field count: {len(fields)} fields, expected {len(header)}", "skipped")
            continue
        yield number, dict(zip(header, fields))
