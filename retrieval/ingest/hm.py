"""H&M's articles.csv with its image tree images/<first 3 digits>/<article_id>.jpg."""
from __future__ import annotations

from pathlib import Path

from ..store.products import Product
from .common import CatalogBuilder, clean, csv_rows
from .report import IngestReport

GENDER = {"Ladieswear": "Women", "Menswear": "Men", "Baby/Children": "Kids", "Divided": "Women"}


def is_hm_layout(path: Path) -> bool:
    return (path / "articles.csv").is_file()


def hm_image_path(root: Path, article_id: str) -> Path:
    return root / "images" / article_id[:3] / f"{article_id}.jpg"


def read_hm(root: Path, report: IngestReport, builder: CatalogBuilder,
            image_only: bool = True) -> None:
    """Articles with text; with ``image_only`` also the photographed articles that have no text."""
    articles = root / "articles.csv"
    rows = csv_rows(articles, report)
    _, header = next(rows, (0, []))
    for number, fields in rows:
        if builder.full:
            return
        report.rows_read += 1
        if len(fields) != len(header):
            report.add(articles, number, clean(fields[0]) if fields else None, None,
                       f"wrong field count: {len(fields)} fields, expected {len(header)}", "skipped")
            continue
        row = dict(zip(header, fields))
        pid = clean(row.get("article_id"))
        if pid is None:
            report.add(articles, number, None, "article_id", "missing or empty field", "skipped")
            continue
        pid = pid.zfill(10)
        attributes = {"pattern": clean(row.get("graphical_appearance_name")),
                      "department": clean(row.get("department_name")),
                      "section": clean(row.get("section_name"))}
        product = Product(
            id=pid,
            title=clean(row.get("prod_name")) or "",
            gender=GENDER.get(clean(row.get("index_group_name")) or ""),
            category=clean(row.get("product_group_name")),
            subcategory=clean(row.get("garment_group_name")),
            article_type=clean(row.get("product_type_name")),
            colour=clean(row.get("colour_group_name")),
            description=clean(row.get("detail_desc")) or "",
            attributes={k: v for k, v in attributes.items() if v},
            image_path=str(hm_image_path(root, pid)),
            source="hm",
        )
        builder.add(product, articles, number, required=("title", "article_type", "colour"))
    if not image_only or not (root / "images").is_dir():
        return
    known = {p.id for p in builder.products}
    for image in sorted((root / "images").glob("*/*.jpg")):
        if builder.full:
            return
        if image.stem in known:
            continue
        report.rows_read += 1
        report.add(image, None, image.stem, "text", "no text: article not in articles.csv", "degraded")
        builder.add(Product(id=image.stem, image_path=str(image), source="hm"), image, None,
                    required=())
