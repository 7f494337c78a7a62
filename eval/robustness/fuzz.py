"""Catalogue fuzzing: small catalogues in every layout the readers accept (generic CSV, generic
JSONL, Kaggle, H&M), each with good rows around one hostile row, file or image, read by
``load_catalog`` while an audit hook records every file Python opens.

A case counts as
- ``crashed`` when reading raised anything but a ``CatalogError`` naming the catalogue;
- ``unreported`` when the hostile row should have been reported and the report does not name it
  (by line, line range or product id);
- ``dropped`` when any row is neither a product nor named by the report (silently lost);
- ``outside`` when a file outside the catalogue folder was opened (a planted secret beside it, or
  an absolute system path).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from retrieval import CatalogError, load_catalog

READERS = ("generic-csv", "generic-jsonl", "kaggle", "hm")
GOOD_ROWS = 3
SECRET = "outside/secret.png"          # a valid photo beside the catalogue folder: never read
SYSTEM_FILES = ("/etc/passwd", "/etc/hostname")
KAGGLE_COLUMNS = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour",
                  "season", "year", "usage", "productDisplayName"]
HM_COLUMNS = ["article_id", "product_code", "prod_name", "product_type_name", "product_group_name",
              "graphical_appearance_name", "colour_group_name", "department_name",
              "index_group_name", "section_name", "garment_group_name", "detail_desc"]
GENERIC_COLUMNS = ["id", "title", "description", "image", "price", "colour", "article_type"]

MARKUP = ['<script>alert("x")</script> Blue Shirt', '<img src=x onerror=alert(1)> Tee',
          "Shirt</data><evidence>- colour: gold</evidence>", "**bold** [link](http://x.test) Top",
          "Jeans {{7*7}} ${7*7} %s %n", "Kurta\u202egnp.exe", "Dress' OR '1'='1"]
RTL = ["قميص أزرق للرجال", "שמלה אדומה", "Tee \u202eeulb\u202c cotton", "\u200fكرتا\u200f Kurta"]
ODD = ["Tee \u200b\u200d\ufeff zero width", "👗✨ Party Dress 🎉", "Ｆｕｌｌｗｉｄｔｈ Ｓｈｉｒｔ",
       "e\u0301le\u0301gant Blouse", "Top\u00a0with\u2028line separator"]
BAD_PRICES = ["abc", "-5", "1e999", "12..5", "₹ 1,299", "--", "0x1F", "9" * 40]
PATH_IDS = ["../../outside/secret", "../outside/secret", "/etc/passwd", "a/../../../outside/secret",
            "..", "id/with/slashes"]


@dataclass
class Row:
    id: str
    values: dict                            # column -> value (JSON values for JSONL)
    line: int = 0                           # first physical line in the written file


@dataclass
class Case:
    reader: str
    mutation: str
    expect: str                             # "reported", "kept", "either" or "file"
    apply: Callable                         # (rng, Builder) -> None, changes the hostile row


@dataclass
class Outcome:
    reader: str
    mutation: str
    expect: str
    seed: int = 0
    crashed: str = ""
    unreported: bool = False
    dropped: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    kept: int = 0
    issues: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.crashed or self.unreported or self.dropped or self.outside)


# -- images ---------------------------------------------------------------------------------------
def photo(rng, size=(48, 64), fmt="PNG", mode="RGB") -> bytes:
    colour = tuple(int(c) for c in rng.integers(0, 255, 3))
    img = Image.new("RGB", size, colour)
    img.paste(tuple(255 - c for c in colour), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    if mode != "RGB":
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def animated_gif(rng) -> bytes:
    frames = [Image.open(io.BytesIO(photo(rng))).convert("P") for _ in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def sixteen_bit(rng) -> bytes:
    arr = rng.integers(0, 65535, (64, 48), dtype=np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def bomb(_rng) -> bytes:
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, "PNG")        # 400 Mpx in a few kB
    return buf.getvalue()


def text_chunk_bomb(rng) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "A" * 20_000_000, zip=True)      # 20 MB of text in a small file
    buf = io.BytesIO()
    Image.open(io.BytesIO(photo(rng))).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40"/></svg>'
IMAGES: dict[str, tuple[str, Callable]] = {       # mutation -> (expect, content)
    "zero-byte image": ("reported", lambda rng: b""),
    "truncated JPEG": ("reported", lambda rng: photo(rng, (200, 260), "JPEG")[:400]),
    "random bytes as image": ("reported", lambda rng: rng.bytes(int(rng.integers(10, 4000)))),
    "decompression bomb": ("reported", bomb),
    "PNG text-chunk bomb": ("either", text_chunk_bomb),
    "animated GIF": ("kept", animated_gif),
    "16-bit PNG": ("kept", sixteen_bit),
    "SVG": ("reported", lambda rng: SVG),
    "HTML as image": ("reported", lambda rng: b"<html><body>404 Not Found</body></html>"),
    "CMYK JPEG": ("kept", lambda rng: photo(rng, fmt="JPEG", mode="CMYK")),
    "palette PNG with transparency": ("kept", lambda rng: photo(rng, mode="P")),
    "1x1 image": ("reported", lambda rng: photo(rng, (1, 1))),
    "absurd aspect 4000x8": ("reported", lambda rng: photo(rng, (4000, 8))),
    "WebP": ("kept", lambda rng: photo(rng, fmt="WEBP")),
    "multi-page TIFF": ("kept", lambda rng: photo(rng, fmt="TIFF")),
}


# -- writing a catalogue --------------------------------------------------------------------------
class Builder:
    """One catalogue being written: rows, the hostile row's index, image files, raw overrides."""

    def __init__(self, root: Path, reader: str, rng):
        self.root, self.reader, self.rng = root, reader, rng
        self.folder = root / "catalogue"
        (self.folder / "images").mkdir(parents=True)
        (root / "outside").mkdir()
        (root / SECRET).write_bytes(photo(rng))
        self.bad = int(rng.integers(0, GOOD_ROWS + 1))
        self.rows = [self.good_row(i) for i in range(GOOD_ROWS + 1)]
        self.raw_line: bytes | None = None            # replaces the hostile row's line
        self.raw_file: bytes | None = None            # replaces the whole file
        self.header: list[str] | None = None          # replaces the header
        self.after_write: list[Callable[[], None]] = []

    @property
    def row(self) -> Row:
        return self.rows[self.bad]

    def good_row(self, i: int) -> Row:
        pid = str(10_000 + int(self.rng.integers(0, 89_999)) * 10 + i)
        if self.reader == "hm":
            pid = pid.zfill(10)
        title = f"{['Blue', 'Black', 'Red', 'Green'][i % 4]} {['Shirt', 'Dress', 'Jeans', 'Kurta'][i % 4]} {i}"
        self.image(pid, photo(self.rng))
        if self.reader == "kaggle":
            values = dict(zip(KAGGLE_COLUMNS, [pid, "Men", "Apparel", "Topwear", "Shirts", "Blue",
                                               "Summer", "2012", "Casual", title]))
        elif self.reader == "hm":
            values = dict(zip(HM_COLUMNS, [pid, pid[:7], title, "Shirt", "Garment Upper body",
                                           "Solid", "Blue", "Shirts", "Menswear", "Men",
                                           "Shirts", "A cotton shirt, with a collar."]))
        else:
            values = dict(zip(GENERIC_COLUMNS, [pid, title, "Cotton, regular fit.", f"images/{pid}.png",
                                                "999", "Blue", "Shirts"]))
        return Row(pid, values)

    def image_path(self, pid: str) -> Path:
        if self.reader == "kaggle":
            return self.folder / "images" / f"{pid}.jpg"
        if self.reader == "hm":
            return self.folder / "images" / pid[:3] / f"{pid}.jpg"
        return self.folder / "images" / f"{pid}.png"

    def image(self, pid: str, content: bytes | None) -> Path:
        path = self.image_path(pid)
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_bytes(content)
        return path

    def set_id(self, pid: str) -> None:
        key = {"kaggle": "id", "hm": "article_id"}.get(self.reader, "id")
        self.row.id = pid
        self.row.values[key] = pid

    def set_title(self, title) -> None:
        key = {"kaggle": "productDisplayName", "hm": "prod_name"}.get(self.reader, "title")
        self.row.values[key] = title

    @property
    def file(self) -> Path:
        return self.folder / {"generic-csv": "catalog.csv", "generic-jsonl": "catalog.jsonl",
                              "kaggle": "styles.csv", "hm": "articles.csv"}[self.reader]

    def write(self) -> None:
        if self.raw_file is not None:
            self.file.write_bytes(self.raw_file)
        else:
            lines: list[bytes] = []
            if self.reader != "generic-jsonl":
                lines.append(csv_line(self.header or list(self.rows[0].values)))
            for i, row in enumerate(self.rows):
                row.line = 1 + sum(line.count(b"\n") for line in lines)
                if i == self.bad and self.raw_line is not None:
                    lines.append(self.raw_line)
                elif self.reader == "generic-jsonl":
                    lines.append(json.dumps(row.values, ensure_ascii=False).encode() + b"\n")
                else:
                    lines.append(csv_line(list(row.values.values())))
            self.file.write_bytes(b"".join(lines))
        for step in self.after_write:
            step()


def csv_line(cells: list) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode()


# -- mutations ------------------------------------------------------------------------------------
def _pick(rng, options):
    return options[int(rng.integers(0, len(options)))]


def _line(b: Builder) -> bytes:
    """The hostile row rendered as it would be written."""
    if b.reader == "generic-jsonl":
        return json.dumps(b.row.values, ensure_ascii=False).encode() + b"\n"
    return csv_line(list(b.row.values.values()))


def raw(edit: Callable) -> Callable:
    """A mutation of the hostile row's bytes: ``edit(rng, line_bytes, builder) -> bytes``."""
    def apply(rng, b: Builder):
        b.raw_line = edit(rng, _line(b), b)
    return apply


def invalid_utf8(rng) -> bytes:
    """High bytes that never decode as UTF-8 (random ones sometimes spell a valid character)."""
    piece = bytes(rng.integers(0x80, 0x100, 3).tolist())
    return piece if _invalid(piece) else b"\xff" + piece


def _invalid(piece: bytes) -> bool:
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def insert(rng, line: bytes, piece: bytes) -> bytes:
    at = int(rng.integers(1, max(2, len(line) - 1)))
    return line[:at] + piece + line[at:]


def unclosed_quote(rng, line: bytes, b: Builder) -> bytes:
    cells = [csv_line([v]).rstrip(b"\n") for v in b.row.values.values()]
    plain = [i for i, c in enumerate(cells) if not c.startswith(b'"')]
    at = plain[int(rng.integers(0, len(plain)))]
    cells[at] = b'"' + cells[at]
    return b",".join(cells) + b"\n"


def wrong_count(more: bool) -> Callable:
    def apply(rng, b: Builder):
        if b.reader == "generic-jsonl":
            b.raw_line = b"[" + b",".join(json.dumps(v).encode() for v in b.row.values.values()) + b"]\n"
            return
        cells = list(b.row.values.values())
        n = int(rng.integers(1, 4))
        cells = cells + ["extra"] * n if more else cells[:max(1, len(cells) - n)]
        b.raw_line = csv_line(cells)
    return apply


def image_mutation(content: Callable) -> Callable:
    def apply(rng, b: Builder):
        b.image(b.row.id, content(rng))
    return apply


def set_image(b: Builder, path: str) -> None:
    """Point the hostile row's image somewhere (generic layouts only)."""
    b.row.values["image"] = path


def symlink(target: Callable[[Builder], str]) -> Callable:
    def apply(rng, b: Builder):
        link = b.image_path(b.row.id)
        link.unlink(missing_ok=True)
        link.symlink_to(target(b))
    return apply


def loop_link(rng, b: Builder) -> None:
    link = b.image_path(b.row.id)
    link.unlink(missing_ok=True)
    link.symlink_to(link.name)


def folder_as_image(rng, b: Builder) -> None:
    path = b.image_path(b.row.id)
    path.unlink(missing_ok=True)
    path.mkdir()


def cases(reader: str) -> list[Case]:
    """Every mutation that applies to ``reader`` (each run with several seeds)."""
    generic = reader.startswith("generic")
    jsonl = reader == "generic-jsonl"
    out = [
        Case(reader, "markup in the title", "kept", lambda rng, b: b.set_title(_pick(rng, MARKUP))),
        Case(reader, "right-to-left text", "kept", lambda rng, b: b.set_title(_pick(rng, RTL))),
        Case(reader, "zero-width, emoji, odd unicode", "kept",
             lambda rng, b: b.set_title(_pick(rng, ODD))),
        Case(reader, "control characters", "reported",
             lambda rng, b: b.set_title("Tee" + "".join(chr(int(c)) for c in rng.integers(1, 31, 4))
                                        .replace("\n", "\x07").replace("\r", "\x08") + "shirt")),
        Case(reader, "huge field", "reported",
             lambda rng, b: b.set_title("Shirt " + "x" * int(rng.integers(150_000, 400_000)))),
        Case(reader, "empty id", "reported", lambda rng, b: b.set_id("")),
        Case(reader, "duplicate id", "reported",
             lambda rng, b: b.set_id(b.rows[(b.bad + 1) % len(b.rows)].id)),
        Case(reader, "path-like id", "either" if generic else "reported",
             lambda rng, b: b.set_id(_pick(rng, PATH_IDS))),
        Case(reader, "very long id", "either", lambda rng, b: b.set_id("9" * int(rng.integers(300, 5000)))),
        Case(reader, "too many fields", "reported", wrong_count(True)),
        Case(reader, "too few fields", "reported", wrong_count(False)),
        Case(reader, "NUL bytes", "reported", raw(lambda rng, line, b: insert(rng, line, b"\x00" * int(rng.integers(1, 4))))),
        Case(reader, "cp1252 bytes", "reported",
             raw(lambda rng, line, b: insert(rng, line, _pick(rng, ["é", "ü", "–", "€"]).encode("cp1252")))),
        Case(reader, "invalid UTF-8", "reported",
             raw(lambda rng, line, b: insert(rng, line, invalid_utf8(rng)))),
        Case(reader, "UTF-16 line", "reported",
             raw(lambda rng, line, b: line.decode().encode("utf-16-le"))),
        Case(reader, "bare carriage return", "either", raw(lambda rng, line, b: insert(rng, line, b"\r"))),
        Case(reader, "byte-order mark mid-file", "either",
             raw(lambda rng, line, b: "\ufeff".encode() + line)),
        Case(reader, "missing image file", "reported",
             lambda rng, b: b.image_path(b.row.id).unlink()),
        Case(reader, "image is a folder", "reported", folder_as_image),
        Case(reader, "image links outside the catalogue", "reported",
             symlink(lambda b: str(b.root / SECRET))),
        Case(reader, "image links to a system file", "reported",
             symlink(lambda b: _pick(b.rng, SYSTEM_FILES))),
        Case(reader, "image symlink loop", "reported", loop_link),
        *[Case(reader, name, expect, image_mutation(content))
          for name, (expect, content) in IMAGES.items()],
    ]
    if not jsonl:
        out += [
            Case(reader, "unclosed quote", "reported", raw(unclosed_quote)),
            Case(reader, "only commas", "reported",
                 raw(lambda rng, line, b: b"," * (len(b.row.values) - 1) + b"\n")),
        ]
    if generic:
        out += [
            Case(reader, "bad price", "reported",
                 lambda rng, b: b.row.values.__setitem__("price", _pick(rng, BAD_PRICES))),
            Case(reader, "image path escapes the folder", "reported",
                 lambda rng, b: set_image(b, _pick(rng, ["../outside/secret.png",
                                                         "images/../../outside/secret.png"]))),
            Case(reader, "absolute image path outside", "reported",
                 lambda rng, b: set_image(b, str(b.root / SECRET))),
            Case(reader, "system file as image", "reported",
                 lambda rng, b: set_image(b, _pick(rng, SYSTEM_FILES))),
            Case(reader, "image URL", "reported",
                 lambda rng, b: set_image(b, "https://example.test/a.jpg")),
            Case(reader, "very long image path", "reported",
                 lambda rng, b: set_image(b, "images/" + "a" * int(rng.integers(300, 5000)) + ".png")),
        ]
    if jsonl:
        out += [
            Case(reader, "NUL in image path", "reported",
                 lambda rng, b: set_image(b, "images/a\u0000b.png")),
            Case(reader, "object as title", "reported",
                 lambda rng, b: b.set_title(_pick(rng, [{"en": "Shirt"}, ["Shirt", "Tee"], {"name": "reset"}]))),
            Case(reader, "number and null fields", "either",
                 lambda rng, b: (b.set_id(str(int(rng.integers(1, 10**6)))),
                                 b.row.values.update({"id": int(b.row.id), "price": None,
                                                      "colour": 7}))),
            Case(reader, "huge number", "reported",
                 lambda rng, b: b.row.values.__setitem__("price", 1e308 * 10)),
            Case(reader, "deeply nested JSON", "reported",
                 raw(lambda rng, line, b: b"[" * int(rng.integers(5_000, 200_000)) + b"\n")),
            Case(reader, "JSON that is not an object", "reported",
                 raw(lambda rng, line, b: _pick(rng, [b"[1, 2]\n", b'"text"\n', b"42\n", b"null\n"]))),
            Case(reader, "truncated JSON", "reported",
                 raw(lambda rng, line, b: line[:int(rng.integers(2, len(line) - 2))] + b"\n")),
        ]
    if reader == "kaggle":
        out += [Case(reader, "corrupt styles_full.jsonl.gz", "file", corrupt_gzip)]
    out += [Case(reader, name, "file", apply) for name, apply in FILE_MUTATIONS.items()]
    return out


def corrupt_gzip(rng, b: Builder) -> None:
    data = gzip.compress(b"".join(json.dumps({"id": r.id, "brandName": "X", "price": "abc"}).encode()
                                  + b"\n" for r in b.rows))
    b.after_write.append(lambda: (b.folder / "styles_full.jsonl.gz").write_bytes(data[:len(data) // 2]))


FILE_MUTATIONS: dict[str, Callable] = {
    "empty file": lambda rng, b: setattr(b, "raw_file", b""),
    "header only": lambda rng, b: setattr(b, "raw_file", csv_line(list(b.rows[0].values))
                                          if b.reader != "generic-jsonl" else b"\n"),
    "binary junk file": lambda rng, b: setattr(b, "raw_file", rng.bytes(int(rng.integers(100, 5000)))),
    "unknown header": lambda rng, b: setattr(b, "header", [f"col{i}" for i in range(len(b.rows[0].values))]),
}


# -- running a case -------------------------------------------------------------------------------
class OpenAudit:
    """Records the paths Python opens while active (``sys.addaudithook``; hooks cannot be removed,
    so one is installed per process and switched on and off)."""

    _installed = False
    paths: list[str] | None = None

    @classmethod
    def start(cls) -> None:
        if not cls._installed:
            sys.addaudithook(cls._hook)
            cls._installed = True
        cls.paths = []

    @classmethod
    def stop(cls) -> list[str]:
        paths, cls.paths = cls.paths or [], None
        return paths

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        if cls.paths is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            cls.paths.append(os.fsdecode(args[0]))


def outside_reads(paths: list[str], b: Builder) -> list[str]:
    folder = b.folder.resolve()
    bad = []
    for p in paths:
        try:
            real = Path(p).resolve()
        except (OSError, ValueError, RuntimeError):
            continue
        if real.is_relative_to(b.root.resolve()) and not real.is_relative_to(folder):
            bad.append(p)
        elif str(real) in SYSTEM_FILES:
            bad.append(p)
    return bad


def named(report, row: Row, catalogue_file: Path, image: Path) -> bool:
    ids = {row.id, row.id.zfill(10)}                   # H&M ids keep 10 digits
    for issue in report.issues:
        if issue.product_id is not None and issue.product_id in ids:
            return True
        if issue.file == str(image):
            return True
        if issue.row is not None and Path(issue.file).name == catalogue_file.name:
            last = issue.last_row if issue.last_row is not None else issue.row
            if issue.row <= row.line <= last:
                return True
    return False


def run_case(case: Case, root: Path, seed: int) -> Outcome:
    rng = np.random.default_rng(seed)
    b = Builder(root, case.reader, rng)
    case.apply(rng, b)
    b.write()
    out = Outcome(case.reader, case.mutation, case.expect, seed)
    OpenAudit.start()
    try:
        catalog = load_catalog(b.folder, layout="hm" if case.reader == "hm" else None)
    except CatalogError as exc:
        catalog = None
        if str(b.folder) not in str(exc) and b.file.name not in str(exc):
            out.crashed = f"CatalogError without the path: {exc}"
    except BaseException as exc:  # noqa: BLE001 - counting crashes is the point
        catalog = None
        out.crashed = f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        out.outside = outside_reads(OpenAudit.stop(), b)
    if catalog is None:
        return out
    kept = {p.id for p in catalog.products}
    out.kept, out.issues = len(kept), len(catalog.report.issues)
    if case.expect == "file":
        if not kept and not catalog.report.issues:
            out.unreported = True                  # nothing read, nothing said
        rows = b.rows if b.raw_file is None and b.header is None else []
    else:
        rows = b.rows
        hostile = b.row
        said = named(catalog.report, hostile, b.file, b.image_path(hostile.id))
        if case.expect == "reported" and not said:
            out.unreported = True
        if case.expect == "kept" and hostile.id not in kept:
            out.dropped.append(f"{hostile.id[:40]} (expected kept)")
    duplicates = {r.id for i, r in enumerate(b.rows) if i != b.bad} if case.mutation == "duplicate id" else set()
    for i, row in enumerate(rows):
        if row.id in kept or row.id.zfill(10) in kept and case.reader == "hm" or (i == b.bad and row.id in duplicates):
            continue
        if not named(catalog.report, row, b.file, b.image_path(row.id)):
            out.dropped.append(row.id[:40])
    return out
