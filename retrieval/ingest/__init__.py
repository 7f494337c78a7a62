"""Catalogue ingestion: every supported layout becomes a list of ``Product`` and a report."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..store.products import Product
from .common import CatalogBuilder
from .generic import generic_file, read_generic
from .hm import is_hm_layout, read_hm
from .images import ImageError, check_image, open_rgb
from .kaggle import is_kaggle_layout, read_kaggle
from .report import IngestReport, Issue

__all__ = ["Catalog", "load_catalog", "IngestReport", "Issue", "ImageError", "check_image",
           "open_rgb", "CatalogError"]


class CatalogError(ValueError):
    """The catalogue path cannot be read at all (the message names it)."""


@dataclass
class Catalog:
    products: list[Product]
    report: IngestReport
    path: Path
    layout: str

    def __len__(self) -> int:
        return len(self.products)

    def by_id(self) -> dict[str, Product]:
        return {p.id: p for p in self.products}


def detect_layout(path: Path) -> str:
    if path.is_dir() and is_kaggle_layout(path):
        return "kaggle"
    if path.is_dir() and is_hm_layout(path):
        return "hm"
    if generic_file(path) is not None:
        return "generic"
    raise CatalogError(f"{path}: not a catalogue (expected styles.csv, articles.csv, or a "
                       f"CSV/JSONL product file)")


def load_catalog(path: str | Path, limit: int | None = None, check_images: bool = True,
                 layout: str | None = None, image_roots: Sequence[str | Path] = ()) -> Catalog:
    """Read a catalogue in any supported layout; problems go to ``catalog.report``, never raise.

    ``limit`` keeps the first N products (in file order). Photos are read only from the
    catalogue's folder and the folders in ``image_roots`` (symbolic links followed): an image
    path leading anywhere else is reported and not read.
    """
    path = Path(path).absolute()            # image paths stay valid from any working folder
    if not path.exists():
        raise CatalogError(f"{path}: no such file or folder")
    layout = layout or detect_layout(path)
    report = IngestReport()
    roots = [path if path.is_dir() else path.parent, *map(Path, image_roots)]
    builder = CatalogBuilder(report, roots, check_images=check_images, limit=limit)
    if layout == "kaggle":
        read_kaggle(path, report, builder)
    elif layout == "hm":
        read_hm(path, report, builder)
    elif layout == "generic":
        read_generic(generic_file(path), report, builder)
    else:
        raise CatalogError(f"{path}: unknown layout {layout!r}")
    products = builder.finish()
    if not products:
        report.add(path, None, None, None, "no product could be read from this catalogue", "skipped")
    return Catalog(products, report, path, layout)
