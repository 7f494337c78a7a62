"""Shared row handling for the catalogue readers: decoding, field cleaning, validation."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ..store.products import Product
from .images import check_image
from .report import IngestReport

MISSING = {"", "na", "n/a", "nan", "null", "none", "-"}


BYTE_ORDER_MARKS = ("\ufeff", "ï»¿")        # the mark, and the mark's UTF-8 bytes read as cp1252
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")   # C0/C1 controls but tab and line ends
TITLE_CHARS, FIELD_CHARS = 500, 20_000        # longer values are cut there (and reported)


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


def parse_year(value, report: IngestReport, file, row, pid) -> int | None:
    text = clean(value)
    if text is None:
        return None
    if not text.isdigit() or not 1900 <= int(text) <= 2100:
        report.add(file, row, pid, "year", f"not a year: {text[:40]!r}", "degraded")
        return None
    return int(text)


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
    """(first line number, fields) for each record of a CSV file, header first; blank lines and
    rows of empty cells are left out (the latter reported). Quoting is read strictly. A record
    with malformed quotes on one line is read again leniently; one that joins several lines (a
    quote left open), or that joins them into the wrong number of fields, is read again line by
    line, so one stray quote cannot swallow the rows after it. Each repair is reported; a line
    over the csv module's field size limit is reported and skipped. Control characters are
    removed (and reported)."""
    consumed: list[tuple[int, str]] = []

    def feed() -> Iterator[str]:
        for item in enumerate(decoded_lines(path, report), start=1):
            consumed.append(item)
            yield item[1]

    reader = csv.reader(feed(), strict=True)
    width = None
    while True:
        consumed.clear()
        try:
            fields = next(reader)
            lines = list(consumed)
            records = [(lines[0][0] if lines else reader.line_num, fields)]
            if width is not None and len(lines) > 1 and len(records[0][1]) != width:
                report.add(path, lines[0][0], None, None, f"a quote joined lines {lines[0][0]}-"
                           f"{lines[-1][0]} into one row; read again line by line", "repaired",
                           lines[-1][0])
                records = list(_line_by_line(lines, path, report))
        except StopIteration:
            return
        except csv.Error as exc:
            lines = list(consumed) or [(reader.line_num, "")]
            first, last = lines[0][0], lines[-1][0]
            report.add(path, first, None, None, f"malformed CSV ({exc}); "
                       + ("read again leniently" if first == last else
                          f"lines {first}-{last} read again line by line"), "repaired",
                       last if last != first else None)
            records = list(_line_by_line(lines, path, report))
        for number, cells in records:
            if any(CONTROL.search(c) for c in cells):
                report.add(path, number, None, None, "control characters removed", "repaired")
                cells = [CONTROL.sub("", c) for c in cells]
            if width is None:
                width = len(cells)
            elif cells and not any(c.strip() for c in cells):
                report.add(path, number, None, None, "empty row: separators only", "skipped")
                continue
            if cells:
                yield number, cells


def _line_by_line(lines: list[tuple[int, str]], path: Path,
                  report: IngestReport) -> Iterator[tuple[int, list[str]]]:
    """Each line parsed on its own, leniently; a line that still cannot be read is reported."""
    for number, text in lines:
        try:
            yield number, next(csv.reader([text]), [])
        except csv.Error as exc:
            report.add(path, number, None, None, f"unreadable CSV row: {exc}", "skipped")


class CatalogBuilder:
    """Collects products: skips duplicate ids, removes control characters and cuts overlong
    values, refuses image paths that lead outside the folders ``roots`` (the catalogue's, and any
    the shop names; symbolic links followed), and reports each of these and every missing
    modality or field."""

    def __init__(self, report: IngestReport, roots: Sequence[Path], check_images: bool = True,
                 limit: int | None = None):
        self.report = report
        self.roots = [os.path.realpath(r) for r in roots]
        self.check_images = check_images
        self.limit = limit
        self.products: list[Product] = []
        self._seen: dict[str, tuple[str, int | None]] = {}

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.products) >= self.limit

    def add(self, product: Product, file, row: int | None, required=("title",)) -> None:
        rep = self.report
        self.sanitise(product, file, row)
        if not product.id:
            rep.add(file, row, None, "id", "missing or empty field", "skipped")
            return
        if product.id in self._seen:
            first_file, first_row = self._seen[product.id]
            rep.add(file, row, product.id, "id",
                    f"duplicate id: first seen at {Path(first_file).name}:{first_row}", "skipped")
            return
        for name in required:
            if not getattr(product, name):
                rep.add(file, row, product.id, name, "missing or empty field", "degraded")
        problem = self.image_problem(product.image_path) if product.image_path else None
        if problem:
            rep.add(file, row, product.id, "image", problem,
                    "degraded" if product.has_text else "skipped")
            product.image_path = None
            if not product.has_text:
                return
        self._seen[product.id] = (str(file), row)
        self.products.append(product)

    def image_problem(self, path: str) -> str | None:
        """Why ``path`` cannot be used, before anything is read: it leads outside the allowed
        folders (after symbolic links), or it is no path at all."""
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError) as exc:
            return f"unusable image path ({type(exc).__name__}: {exc}): not read"
        if not any(os.path.commonpath([real, root]) == root for root in self.roots):
            return f"image path leads outside the catalogue folder {self.roots[0]}: not read"
        return None

    def sanitise(self, product: Product, file, row: int | None) -> None:
        """Control characters out of every text field and overlong values cut, each reported."""
        for f in dataclasses.fields(product):
            value = getattr(product, f.name)
            if isinstance(value, str) and f.name not in ("image_path", "source"):
                setattr(product, f.name, self._clean_text(value, f.name, product, file, row))
        product.attributes = {k: self._clean_text(v, k, product, file, row)
                              for k, v in product.attributes.items()}

    def _clean_text(self, value: str, name: str, product: Product, file, row) -> str:
        pid = CONTROL.sub("", product.id)[:80] or None
        if CONTROL.search(value):
            value = " ".join(CONTROL.sub(" ", value).split())
            self.report.add(file, row, pid, name, "control characters removed", "repaired")
        limit = TITLE_CHARS if name in ("id", "title") else FIELD_CHARS
        if len(value) > limit:
            self.report.add(file, row, pid, name,
                            f"value cut to {limit} characters: it had {len(value)}", "repaired")
            value = value[:limit]
        return value

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
            except RecursionError:
                report.add(path, number, None, None, "invalid JSON: nested too deeply", "skipped")
                continue
            if not isinstance(row, dict):
                report.add(path, number, None, None, "invalid JSON: not an object", "skipped")
                continue
            yield number, row
        return
    rows = csv_rows(path, report)
    header = next(rows, (0, []))[1]
    for number, fields in rows:
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
