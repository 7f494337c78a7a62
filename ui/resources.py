"""What every session of the shop and the analyst area shares: the searcher over one index, its
explainer, the ratings store, the planner and the benchmark report folder."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from agent import DEFAULT_PLANNER, ShoppingAgent
from explain.evidence import Explainer
from explain.ratings import RatingStore
from retrieval import Searcher

from .sessions import Sessions

ANY = "Any"


@dataclass
class Resources:
    """What every session shares."""
    searcher: Searcher
    ratings: RatingStore
    planner: str = DEFAULT_PLANNER
    results_dir: Path | None = None          # a `python -m eval` report folder for the charts
    ahead: bool = True                       # explain each answer's products before "why?"

    @cached_property
    def explainer(self) -> Explainer:
        return Explainer(self.searcher)

    @cached_property
    def sessions(self) -> Sessions:
        return Sessions(self.agent)

    def agent(self) -> ShoppingAgent:
        return ShoppingAgent(self.searcher, planner=self.planner, explainer=self.explainer, ahead=self.ahead)

    @cached_property
    def image_root(self) -> str | None:
        """The folder holding the catalogue's photos (the only product files served)."""
        paths = [p.image_path for p in self.searcher.index.products_where(limit=2000)
                 if p.image_path]
        # Resolved: Gradio resolves symlinks before checking a file against the allowed folders.
        return os.path.realpath(os.path.commonpath(paths)) if paths else None

    def choices(self, field_name: str) -> list[str]:
        return [ANY, *self.searcher.vocabulary.values(field_name)]
