"""Is the evidence what the model really used? Remove it and measure the similarity drop,
against removing as much at random (ERASER's comprehensiveness and sufficiency).

- Image: the top-k% Grad-CAM pixels are filled with the catalogue's white background (or
  blurred); random k% of the product's pixels likewise, over several seeds.
- Text: the top-n attributed words are deleted from the text; random n words likewise.

*Comprehensiveness* = similarity(all) - similarity(evidence removed): high when the evidence
mattered. *Sufficiency* = similarity(all) - similarity(only the evidence kept): low when the
evidence alone carries the match.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter

from retrieval import ClipEncoder

from .gradcam import BLUR_RADIUS, SimilarityTarget, foreground, to_frame
from .tokens import TokenAttribution

FRACTIONS = (0.05, 0.1, 0.2, 0.4)
WORD_COUNTS = (1, 3, 5)
SEEDS = (0, 1, 2)
ROAD_PERCENTILES = (20, 40, 60, 80)
WHITE = (255, 255, 255)


@dataclass
class Deletion:
    """Similarity after removing ``amount`` (a pixel fraction or a word count) of evidence."""

    amount: float
    full: float                  # similarity with nothing removed
    evidence_removed: float
    random_removed: float        # mean over seeds
    evidence_kept: float         # only the evidence left

    @property
    def comprehensiveness(self) -> float:
        return self.full - self.evidence_removed

    @property
    def random_drop(self) -> float:
        return self.full - self.random_removed

    @property
    def sufficiency(self) -> float:
        return self.full - self.evidence_kept


def _masked(photo: Image.Image, mask: np.ndarray, mode: str) -> Image.Image:
    """``photo`` with the pixels under ``mask`` filled white (``fill``) or blurred (``blur``)."""
    rgb = np.asarray(photo, dtype=np.uint8).copy()
    if mode == "blur":
        replacement = np.asarray(photo.filter(ImageFilter.GaussianBlur(radius=BLUR_RADIUS)), dtype=np.uint8)
    else:
        replacement = np.broadcast_to(np.array(WHITE, np.uint8), rgb.shape)
    rgb[mask] = replacement[mask]
    return Image.fromarray(rgb)


def cells(shape: tuple[int, int], size: int) -> np.ndarray:
    """Label of the ``size`` x ``size`` square each pixel falls in."""
    rows, cols = np.indices(shape)
    return (rows // size) * (-(-shape[1] // size)) + cols // size


def random_map(shape: tuple[int, int], grid: int, seed: int) -> np.ndarray:
    """A random heat-map as smooth as a Grad-CAM map: ``grid`` x ``grid`` uniform values,
    upsampled bilinearly to ``shape`` (rows, cols)."""
    low = np.random.default_rng(seed).random((grid, grid)).astype(np.float32)
    return np.asarray(Image.fromarray(low, mode="F").resize(shape[::-1], Image.BILINEAR))


def image_deletions(encoder: ClipEncoder, photo: Image.Image, cam: np.ndarray,
                    query_vector: np.ndarray, fractions: Sequence[float] = FRACTIONS,
                    seeds: Sequence[int] = SEEDS, mode: str = "fill",
                    cell: int = 4, grid: int | None = 4) -> list[Deletion]:
    """One ``Deletion`` per fraction of the product's (non-background) pixels.

    Pixels are removed in ``cell`` x ``cell`` squares, the evidence's in order of mean Grad-CAM
    weight and the random baseline's in random order, so both remove regions of the same size
    (scattered single pixels would disturb a CNN for reasons unrelated to the evidence). All
    variants are encoded in one batch."""
    photo = photo.convert("RGB")
    fg = foreground(photo)
    label = cells(cam.shape, cell)
    ids = np.unique(label[fg])
    flat = label.ravel()
    count = np.bincount(flat)

    def cell_means(values: np.ndarray) -> np.ndarray:
        return (np.bincount(flat, values.ravel()) / np.maximum(count, 1))[ids]

    weight = cell_means(cam)
    size = np.bincount(flat, fg.ravel().astype(float))[ids]
    if grid:
        random_orders = [np.argsort(-cell_means(m), kind="stable")
                         for m in (random_map(cam.shape, grid, s) for s in seeds)]
    else:
        random_orders = [np.random.default_rng(s).permutation(len(ids)) for s in seeds]

    def mask(order: np.ndarray, frac: float) -> np.ndarray:
        take = order[:int(np.searchsorted(np.cumsum(size[order]), frac * size.sum())) + 1]
        return np.isin(label, ids[take]) & fg

    images, layout = [photo], []
    for frac in fractions:
        top = mask(np.argsort(-weight, kind="stable"), frac)
        images += [_masked(photo, top, mode), _masked(photo, fg & ~top, mode)]
        images += [_masked(photo, mask(order, frac), mode) for order in random_orders]
        layout.append((frac, len(seeds)))
    sims = encoder.encode_images(images) @ np.asarray(query_vector, dtype=np.float32)
    out, i = [], 1
    for frac, n_seeds in layout:
        removed, kept = sims[i], sims[i + 1]
        rand = sims[i + 2:i + 2 + n_seeds].mean()
        out.append(Deletion(frac, float(sims[0]), float(removed), float(rand), float(kept)))
        i += 2 + n_seeds
    return out


def road(encoder: ClipEncoder, photo: Image.Image, cam: np.ndarray, query_vector: np.ndarray,
         percentiles: Sequence[int] = ROAD_PERCENTILES, seed: int = 0) -> float:
    """ROAD (pytorch-grad-cam's ``ROADCombined``, Rong et al. 2022): removed pixels are imputed
    from their neighbours (noisy linear imputation) instead of painted, so the removal itself
    leaks no shape. The score is half the similarity kept when the least relevant pixels are
    imputed minus that kept when the most relevant are, averaged over ``percentiles``: higher
    means the map ranks pixels the way the model uses them."""
    from pytorch_grad_cam.metrics.road import ROADCombined

    photo = photo.convert("RGB")
    pixels = encoder.preprocess(photo).unsqueeze(0)
    frame = to_frame(encoder, cam, photo)[None]
    torch.manual_seed(seed)                       # the imputation adds noise
    return float(ROADCombined(list(percentiles))(pixels, frame, [SimilarityTarget(query_vector)],
                                                 encoder.model.visual.eval())[0])


def remove_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    keep, last = [], 0
    for s, e in sorted(spans):
        keep.append(text[last:s])
        last = e
    keep.append(text[last:])
    return " ".join("".join(keep).split())


def text_deletions(encoder: ClipEncoder, attribution: TokenAttribution,
                   query_vector: np.ndarray, counts: Sequence[int] = WORD_COUNTS,
                   seeds: Sequence[int] = SEEDS) -> list[Deletion]:
    """One ``Deletion`` per word count: the top-n positively attributed words vs random n words."""
    words = attribution.words
    text = attribution.text
    ranked = sorted(range(len(words)), key=lambda k: -words[k].weight)
    texts, layout = [text], []
    for n in counts:
        n = min(n, len(words))
        top = ranked[:n]
        rest = ranked[n:]
        texts += [remove_spans(text, [(words[k].start, words[k].end) for k in top]),
                  remove_spans(text, [(words[k].start, words[k].end) for k in rest]) or "."]
        for seed in seeds:
            pick = np.random.default_rng(seed).choice(len(words), size=n, replace=False)
            texts.append(remove_spans(text, [(words[k].start, words[k].end) for k in pick]))
        layout.append((n, len(seeds)))
    sims = encoder.encode_texts(texts) @ np.asarray(query_vector, dtype=np.float32)
    out, i = [], 1
    for n, n_seeds in layout:
        out.append(Deletion(n, float(sims[0]), float(sims[i]), float(sims[i + 2:i + 2 + n_seeds].mean()),
                            float(sims[i + 1])))
        i += 2 + n_seeds
    return out
