"""Summaries of per-query arrays."""
from __future__ import annotations

import numpy as np


def mean_ci(values, z: float = 1.96) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation 95% confidence interval."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan")
    half = z * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(half)


def percentiles(values, qs=(50, 99)) -> dict[str, float]:
    values = np.asarray(values, dtype=float)
    return {f"p{q}": float(np.percentile(values, q)) for q in qs}


def summary(values) -> dict[str, float]:
    """``{"mean", "ci95"}`` of the defined (non-NaN) values."""
    values = np.asarray(values, dtype=float)
    mean, half = mean_ci(values[~np.isnan(values)])
    return {"mean": mean, "ci95": half}
