"""Vectors: ``unit`` (the one normalisation every part uses, so that the inner product of two
vectors is their cosine) and ``Features`` (each product's shared-space image and text vectors)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def unit(x: np.ndarray) -> np.ndarray:
    """``x`` (one vector, or one per row) scaled to length 1 along its last axis."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass
class Features:
    """Per-product image and text vectors (rows of zeros where a modality is missing)."""

    image: np.ndarray
    text: np.ndarray
    has_image: np.ndarray
    has_text: np.ndarray

    def __len__(self) -> int:
        return len(self.has_image)

    def subset(self, rows) -> Features:
        return Features(self.image[rows], self.text[rows], self.has_image[rows], self.has_text[rows])
