"""Benchmark suites: each ``run(ctx)`` returns a ``SuiteResult`` (``eval.result``)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..context import Context
    from ..result import SuiteResult


def registry() -> dict[str, Callable[[Context], SuiteResult]]:
    """Every suite's ``run(ctx)`` by name."""
    from . import (
        agent,
        alignment,
        ann,
        clusters,
        complement,
        composed,
        cost,
        dialogue,
        explanations,
        faithfulness,
        kagl,
        latency,
        load,
        personal,
        photo,
        retrieval,
        robustness,
        scale,
    )

    return {"agent": agent.run, "alignment": alignment.run, "ann": ann.run, "clusters": clusters.run,
            "complement": complement.run, "composed": composed.run, "cost": cost.run,
            "dialogue": dialogue.run, "explanations": explanations.run,
            "faithfulness": faithfulness.run,
            "kagl": kagl.run, "latency": latency.run, "load": load.run, "personal": personal.run,
            "photo": photo.run, "retrieval": retrieval.run, "robustness": robustness.run,
            "scale": scale.run}
