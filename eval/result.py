"""What a suite's ``run(ctx)`` returns: its table, metrics, notes and plots."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SuiteResult:
    name: str
    config: dict
    columns: list[str]
    rows: list[list]
    metrics: dict
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)     # PNG file names under the report folder
