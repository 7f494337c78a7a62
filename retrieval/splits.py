"""Held-out splits that are stable as a catalogue grows, with a guard against leakage."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class LeakageError(AssertionError):
    """An item of the test split is in the training data."""


@dataclass(frozen=True)
class Split:
    train: np.ndarray      # row numbers
    test: np.ndarray

    def check(self, ids: Sequence[str]) -> None:
        assert_disjoint([ids[i] for i in self.train], [ids[i] for i in self.test])


def in_test(item_id: str, test_fraction: float, seed: int = 0) -> bool:
    """Deterministic by id: an item stays on its side when other items are added or removed."""
    digest = hashlib.sha1(f"{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


def holdout_split(ids: Sequence[str], test_fraction: float = 0.2, seed: int = 0) -> Split:
    mask = np.array([in_test(i, test_fraction, seed) for i in ids], dtype=bool)
    split = Split(np.flatnonzero(~mask), np.flatnonzero(mask))
    split.check(ids)
    return split


def assert_disjoint(train_ids: Sequence[str], test_ids: Sequence[str]) -> None:
    leaked = set(train_ids) & set(test_ids)
    if leaked:
        sample = sorted(leaked)[:5]
        raise LeakageError(f"{len(leaked)} test items are in the training data, e.g. {sample}")
