"""Stand-in towers: a small deterministic image-text encoder for tests (no weights, no training).

One space of ``embed_dim`` dimensions in three blocks: named colours (shared by both sides: a
photo's share of garment pixels nearest each colour, a text's colour words), the photo's shape
(garment pixels on a coarse grid; texts leave it empty) and the text's words hashed into buckets
(photos leave it empty). So "red" lands near red photos, a photo near photos of the same colour
and shape, a text near texts sharing its words. The projections are the identity (unlocked
towers), so an index built with it names it by ``STANDIN`` and loads it again by that name.
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .clip import TowerSpec, short_hash

STANDIN = "standin"
PALETTE = {"red": (200, 30, 40), "blue": (40, 90, 210), "navy blue": (20, 30, 90), "black": (25, 25, 25),
           "green": (40, 150, 60), "yellow": (235, 200, 30), "pink": (240, 130, 170), "grey": (130, 130, 130),
           "brown": (120, 70, 30), "orange": (240, 120, 20), "purple": (120, 50, 150), "beige": (205, 180, 140),
           "white": (250, 250, 250)}
GRID = (6, 8)               # shape cells (columns, rows)
WORDS = 64                  # hashed word buckets
COLOUR_WORDS = re.compile(r"\b(" + "|".join(sorted(PALETTE, key=len, reverse=True)) + r")\b")


def singular(word: str) -> str:
    """A plural's singular, roughly: "dresses" -> "dress", "shoes" -> "shoe", "jeans" -> "jean"."""
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


class StandinEncoder:
    """The encoder interface of ``ClipEncoder`` (towers, projections, the two verbs) on pixel
    statistics and hashed words."""

    def __init__(self):
        self.name = STANDIN
        self.created_with = {"spec": STANDIN, "pretrained": None, "text_tower": None}
        self.towers = TowerSpec(short_hash("standin image v1"), short_hash("standin text v1"), locked=False)
        self.projection_identity = "identity"
        self._palette = np.array(list(PALETTE.values()), dtype=np.float32)

    @property
    def embed_dim(self) -> int:
        return len(PALETTE) + GRID[0] * GRID[1] + WORDS

    def _photo(self, image: Image.Image) -> np.ndarray:
        pixels = np.asarray(image.convert("RGB").resize((30, 40)), dtype=np.float32).reshape(-1, 3)
        garment = (255 - pixels).max(1) > 40               # not the white background
        out = np.zeros(self.embed_dim, np.float32)
        if garment.any():
            nearest = ((pixels[garment, None] - self._palette[None]) ** 2).sum(-1).argmin(1)
            out[:len(PALETTE)] = np.bincount(nearest, minlength=len(PALETTE)) / garment.sum()
            cells = garment.reshape(40, 30).reshape(GRID[1], 40 // GRID[1], GRID[0], 30 // GRID[0]).mean((1, 3))
            out[len(PALETTE):len(PALETTE) + cells.size] = cells.ravel()
        return out

    def _text(self, text: str) -> np.ndarray:
        out = np.zeros(self.embed_dim, np.float32)
        text = text.lower()
        for match in COLOUR_WORDS.finditer(text):
            out[list(PALETTE).index(match.group(1))] += 0.5
        words_at = len(PALETTE) + GRID[0] * GRID[1]
        for word in re.findall(r"[a-z0-9]+", COLOUR_WORDS.sub(" ", text)):
            out[words_at + zlib.crc32(singular(word).encode()) % WORDS] += 1.0
        return out

    # -- towers (features are already in the shared space) ---------------------------------
    def image_tower(self, images: Sequence[Image.Image]) -> np.ndarray:
        return np.stack([self._photo(im) for im in images]) if images else np.zeros((0, self.embed_dim), np.float32)

    def text_tower(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._text(t) for t in texts]) if texts else np.zeros((0, self.embed_dim), np.float32)

    def pooled(self, image_feats: np.ndarray) -> np.ndarray:
        return image_feats

    # -- projections: the identity, then L2-normalised --------------------------------------
    def project_images_t(self, feats: torch.Tensor) -> torch.Tensor:
        return F.normalize(feats, dim=-1)

    project_texts_t = project_images_t

    def project_images(self, feats: np.ndarray) -> np.ndarray:
        return self.project_images_t(torch.as_tensor(feats, dtype=torch.float32)).numpy()

    project_texts = project_images

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """L2-normalised shared-space vectors of RGB images, shape (n, embed_dim)."""
        return self.project_images(self.image_tower(images))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised shared-space vectors of texts, shape (n, embed_dim)."""
        return self.project_texts(self.text_tower(texts))
