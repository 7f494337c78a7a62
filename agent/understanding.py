"""The trained turn model: a shopper's intent from the sentence embedding of their words (the text
tower the index already loads, MiniLM by default), which kinds of slot the catalogue vocabulary
finds in them, and what is on screen. A small MLP (scikit-learn) trained on ``phrasings``; the
slots and references are filled by the parser's own code for whichever intent it decides.

Built on first use and cached under ``cache_dir()/turn-model/<key>``: the key changes with the
training phrasings, the text tower and scikit-learn's version, so an artefact is never reused
for another model, and a built one is loaded, never retrained per turn."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import joblib
import numpy as np
import sklearn
from sklearn.neural_network import MLPClassifier
from tqdm.auto import tqdm

from retrieval import ClipEncoder, Modifier, cache_dir, unit

from . import phrasings as data
from .state import DEICTIC, NUMBERED, ORDINAL, Conversation

SLOTS = ("type", "colour", "value", "change", "price")
FLAGS = ("shown", "focus", "photo", "listing", *SLOTS, "ordinal", "deictic")
CONTEXT_FLAGS = {"none": (), "listing": ("shown", "listing"), "focus": ("shown", "focus", "listing"),
                 "product": ("shown", "focus"), "photo": ("photo",)}
CHANGE_FIELDS = ("fabric", "pattern", "sleeve", "fit", "neck")
PER_TEMPLATE = 12
BATCH = 64
MODEL_FILE, META_FILE = "model.joblib", "meta.json"


def slots_of(mod: Modifier) -> set[str]:
    """Which kinds of slot a turn names, from its vocabulary parse."""
    v = mod.values
    found = {"type"} if ("article_type" in v or "category" in v) else set()
    found |= {"colour"} if "colour" in v else set()
    found |= {"value"} if "gender" in v else set()
    found |= {"change"} if set(v) & set(CHANGE_FIELDS) else set()
    found |= {"price"} if (mod.price_min is not None or mod.price_max is not None or mod.price) else set()
    return found


def flags(text: str, on: set[str]) -> np.ndarray:
    t = text.lower()
    on = on | ({"ordinal"} if ORDINAL.search(t) or NUMBERED.search(t) else set()) | \
        ({"deictic"} if DEICTIC.search(t) else set())
    return np.array([f in on for f in FLAGS], dtype=np.float32)


def screen(state: Conversation) -> set[str]:
    """The context flags of a conversation before the turn."""
    on = {"shown"} if state.shown else set()
    on |= {"focus"} if state.focus else set()
    on |= {"listing"} if state.last_search else set()
    on |= {"photo"} if state.photo is not None and state.photo_turn == state.turns else set()
    return on


def tower_identity(encoder: ClipEncoder) -> str:
    return encoder.towers.text_identity if encoder.towers.locked else \
        f"{encoder.name}:{encoder.projection_identity}"


@functools.cache
def phrasings_digest() -> str:
    rows = data.phrasings(PER_TEMPLATE)
    return hashlib.sha1(json.dumps([(p.text, p.intent, p.context) for p in rows]).encode()).hexdigest()


def training_key(encoder: ClipEncoder) -> str:
    digest = hashlib.sha1(phrasings_digest().encode())
    digest.update(f"{tower_identity(encoder)}|sklearn {sklearn.__version__}|{FLAGS}".encode())
    return digest.hexdigest()[:16]


class TurnModel:
    """Intent of a turn: ``predict(text, mod, state) -> (intent, probability)``."""

    _loaded: ClassVar[dict[str, TurnModel]] = {}       # one per artefact in a process

    def __init__(self, encoder: ClipEncoder, classifier: MLPClassifier, meta: dict):
        self.encoder, self.classifier, self.meta = encoder, classifier, meta

    def features(self, texts: list[str], flag_rows: list[np.ndarray]) -> np.ndarray:
        """Unit sentence embeddings (each distinct text encoded once) beside the flags."""
        distinct = sorted(set(texts))
        batches = range(0, len(distinct), BATCH)
        emb = np.vstack([self.encoder.text_tower(distinct[i:i + BATCH]) for i in
                         tqdm(batches, desc="turn model: encoding phrasings", unit="batch",
                              disable=len(batches) <= 1)])
        emb = unit(emb)
        row = {t: i for i, t in enumerate(distinct)}
        return np.hstack([emb[[row[t] for t in texts]], np.stack(flag_rows)])

    def predict(self, text: str, mod: Modifier, state: Conversation) -> tuple[str, float]:
        x = self.features([text.lower()], [flags(text, screen(state) | slots_of(mod))])
        proba = self.classifier.predict_proba(x)[0]
        best = int(proba.argmax())
        return str(self.classifier.classes_[best]), float(proba[best])

    # -- build, save, load ------------------------------------------------------------------
    @classmethod
    def train(cls, encoder: ClipEncoder, seed: int = 0) -> TurnModel:
        rows = data.phrasings(PER_TEMPLATE, seed)
        start = time.perf_counter()
        model = cls(encoder, MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-3, max_iter=300,
                                           early_stopping=True, random_state=seed), {})
        x = model.features([p.text.lower() for p in rows],
                           [flags(p.text, set(CONTEXT_FLAGS[p.context]) | p.slots) for p in rows])
        model.classifier.fit(x, [p.intent for p in rows])
        model.meta = {"phrasings": len(rows), "templates": sum(len(t) for _, t in data.TEMPLATES),
                      "text_tower": tower_identity(encoder), "sklearn": sklearn.__version__,
                      "validation_accuracy": float(model.classifier.best_validation_score_),
                      "train_seconds": round(time.perf_counter() - start, 1)}
        return model

    def save(self, folder: Path) -> Path:
        """Write the artefact atomically (a temporary folder renamed into place)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".turn-model-", dir=folder.parent))
        joblib.dump(self.classifier, tmp / MODEL_FILE)
        (tmp / META_FILE).write_text(json.dumps(self.meta, indent=2))
        try:
            os.replace(tmp, folder)
        except OSError:                                  # built meanwhile by another process
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    @classmethod
    def load(cls, folder: Path, encoder: ClipEncoder) -> TurnModel:
        meta = json.loads((folder / META_FILE).read_text())
        if meta["text_tower"] != tower_identity(encoder):
            raise ValueError(f"{folder}: trained on text tower {meta['text_tower']}, "
                             f"not {tower_identity(encoder)}")
        return cls(encoder, joblib.load(folder / MODEL_FILE), meta)

    @classmethod
    def for_encoder(cls, encoder: ClipEncoder, root: Path | None = None) -> TurnModel:
        """The model for ``encoder``'s text tower: in memory, else the cached artefact, else
        trained now (about half a minute on 2 cores) and cached."""
        folder = (root or cache_dir() / "turn-model") / training_key(encoder)
        key = str(folder)
        if key not in cls._loaded:
            if not (folder / MODEL_FILE).exists():
                cls.train(encoder).save(folder)
            cls._loaded[key] = cls.load(folder, encoder)
        return cls._loaded[key]
