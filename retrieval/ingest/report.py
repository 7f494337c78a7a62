"""What ingestion rejected or degraded, row by row: nothing is dropped silently."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True)
class Issue:
    """One problem with one row or file.

    ``action`` is ``skipped`` (the row is not in the catalogue), ``degraded`` (kept, with a modality
    or field missing) or ``repaired`` (kept as it is, after a fix the reason describes).
    """

    file: str
    row: int | None
    product_id: str | None
    field: str | None
    reason: str
    action: str
    last_row: int | None = None        # the record's last line, when it spans several

    def __str__(self) -> str:
        span = f"-{self.last_row}" if self.last_row not in (None, self.row) else ""
        where = self.file + (f":{self.row}{span}" if self.row is not None else "")
        who = f" id={self.product_id}" if self.product_id else ""
        what = f" [{self.field}]" if self.field else ""
        return f"{where}{who}{what}: {self.reason} ({self.action})"


@dataclass
class IngestReport:
    """Issues found while reading a catalogue, with counts of what was read and kept; saved
    beside the index built from it (``ingest_report.json``)."""

    FILE: ClassVar[str] = "ingest_report.json"
    rows_read: int = 0
    products_kept: int = 0
    issues: list[Issue] = field(default_factory=list)

    def add(self, file: str | Path, row: int | None, product_id: str | None, field_name: str | None,
            reason: str, action: str, last_row: int | None = None) -> None:
        self.issues.append(Issue(str(file), row, product_id, field_name, reason, action, last_row))

    def counts(self) -> Counter:
        return Counter((i.action, i.reason.split(":")[0]) for i in self.issues)

    def summary(self) -> str:
        lines = [f"{self.rows_read} rows read, {self.products_kept} products kept, "
                 f"{len(self.issues)} issues"]
        for (action, reason), n in self.counts().most_common():
            lines.append(f"  {n:6d}  {action:8s} {reason}")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"summary": self.summary(), "rows_read": self.rows_read,
                           "products_kept": self.products_kept,
                           "issues": [asdict(i) for i in self.issues]}, indent=1)

    def save(self, folder: Path) -> None:
        (Path(folder) / self.FILE).write_text(self.to_json())

    @classmethod
    def load(cls, folder: Path) -> IngestReport:
        data = json.loads((Path(folder) / cls.FILE).read_text())
        return cls(data["rows_read"], data["products_kept"], [Issue(**i) for i in data["issues"]])
