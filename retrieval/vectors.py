"""Vectors scaled to unit length: the one normalisation every part uses, so that the inner product
of two vectors is their cosine."""
from __future__ import annotations

import numpy as np


def unit(x: np.ndarray) -> np.ndarray:
    """``x`` (one vector, or one per row) scaled to length 1 along its last axis."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
