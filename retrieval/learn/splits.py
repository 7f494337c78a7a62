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


def _position(item_id: str, seed: int) -> float:
    """The item's place in [0, 1), fixed by its id and the seed."""
    digest = hashlib.sha1(f"{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_test(item_id: str, test_fraction: float, seed: int = 0) -> bool:
    """Deterministic by id: an item stays on its side when other items are added or removed."""
    return _position(item_id, seed) < test_fraction


def holdout_split(ids: Sequence[str], test_fraction: float = 0.2, seed: int = 0) -> Split:
    mask = np.array([in_test(i, test_fraction, seed) for i in ids], dtype=bool)
    split = Split(np.flatnonzero(~mask), np.flatnonzero(mask))
    split.check(ids)
    return split


def fold_split(ids: Sequence[str], fold: int, folds: int = 5, seed: int = 0) -> Split:
    """Fold ``fold`` of ``folds`` held out (cross-fitting: every item is held out by one fold);
    fold 0 is ``holdout_split(ids, 1 / folds, seed)``."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} is not one of 0..{folds - 1}")
    place = np.array([_position(i, seed) for i in ids])
    mask = (place >= fold / folds) & (place < (fold + 1) / folds)
    split = Split(np.flatnonzero(~mask), np.flatnonzero(mask))
    split.check(ids)
    return split


def assert_disjoint(train_ids: Sequence[str], test_ids: Sequence[str]) -> None:
    leaked = set(train_ids) & set(test_ids)
    if leaked:
        sample = sorted(leaked)[:5]
        raise LeakageError(f"{len(leaked)} test items are in the training data, e.g. {sample}")
