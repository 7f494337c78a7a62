"""Heat-maps for a *similarity*: which regions of a product photo make its image vector close to
a query vector, with the cosine similarity as the target. Measured with the ``faithfulness``
protocol (removing a map's top regions vs random ones; 60 validation matches, disjoint from the
suite's own 120, chose the default):

- ``OcclusionMap`` (the evidence's default): 16 px squares of the 128 px frame (8 x 8, one
  batch; captum's feature ablation): the similarity lost when each square is painted white,
  squares already white sharing one pass. It measures removal directly: 88% / 87% / 95% of
  validation matches (white fill / blur / ROAD), 91% / 91% / 97% of the suite's 120, at 159 ms
  p50. 32 px squares scored 75% / 73% / 97% at 56 ms; squares every 8 px (overlapping, captum's
  Occlusion) 78% / 83% at 1.3 s in an earlier run.
- ``IntegratedGradientsMap``: captum's integrated gradients along the white-fill and the blur
  removal, pixel-level, 0.12 s: 85% / 80% on validation, 77% / 81% on the suite's 120 matches.
  Smoothing it (pooled to 32, 16 or 8 cells across) lowered both.
- ``SimilarityCAM``: pytorch-grad-cam methods on a layer of the image tower; LayerCAM on
  ``blocks.1`` (32 x 32 cells at 128 px, 30 ms) scored 48% / 68% (120 matches of the full
  catalogue), classic Grad-CAM on ``conv_head`` (4 x 4 cells) 47% / 49%. ``blocks.0`` scored
  58% / 77% but its maps hardly depend on the query (two products side by side light up alike
  for either one's query).
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from pytorch_grad_cam import AblationCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.utils.image import show_cam_on_image

from retrieval import ClipEncoder


class SimilarityTarget:
    """Grad-CAM target: cosine similarity of the model output with a fixed unit vector."""

    def __init__(self, vector: np.ndarray):
        self.vector = F.normalize(torch.as_tensor(np.asarray(vector), dtype=torch.float32), dim=-1)

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return (F.normalize(output, dim=-1) * self.vector).sum()


@dataclass
class HeatMap:
    """Grad-CAM over a product photo: ``cam`` in [0, 1] at the photo's own size (rows x cols)."""

    cam: np.ndarray
    similarity: float            # cosine of the photo's vector with the query vector
    seconds: float
    grid: int                    # the explained layer's resolution (cells across the frame)
    zero: float = 0.0            # the value of "no effect" (signed maps keep negatives below it)

    @property
    def empty(self) -> bool:
        """No region raised the similarity (every weighted activation was negative)."""
        return bool(self.cam.max() <= self.zero)

    @property
    def shown(self) -> np.ndarray:
        """What the overlay paints: the part of the map above "no effect", in [0, 1]."""
        return np.clip((self.cam - self.zero) / max(1.0 - self.zero, 1e-12), 0.0, 1.0)

    def region(self, photo: Image.Image, share: float = 0.2) -> str | None:
        """Where on the product the map's weight lies, in words ("the top left", "the centre",
        "all over the product"): the ninth of the product's bounding box (the photo's
        non-background pixels) where the map's positive weight per product pixel is highest,
        when that is at least ``share`` of the nine ninths' densities together (an even map
        gives each 0.11)."""
        fg = foreground(photo.resize(self.cam.shape[::-1]))
        rows, cols = np.nonzero(fg)
        weights = self.shown[fg]
        if self.empty or len(rows) < 9 or weights.sum() <= 0:
            return None
        r = np.minimum(3 * (rows - rows.min()) // (rows.max() - rows.min() + 1), 2)
        c = np.minimum(3 * (cols - cols.min()) // (cols.max() - cols.min() + 1), 2)
        cell = 3 * r + c
        density = np.bincount(cell, weights, minlength=9) / np.maximum(np.bincount(cell, minlength=9), 1)
        density /= density.sum()
        return PLACES[int(density.argmax())] if density.max() >= share else "all over the product"

    def overlay(self, photo: Image.Image, weight: float = 0.5) -> Image.Image:
        rgb = np.asarray(photo.convert("RGB").resize(self.cam.shape[::-1]), dtype=np.float32) / 255
        return Image.fromarray(show_cam_on_image(rgb, self.shown, use_rgb=True, image_weight=weight))

    def overlay_png(self, photo: Image.Image) -> bytes:
        buf = io.BytesIO()
        self.overlay(photo).save(buf, format="PNG")
        return buf.getvalue()


BLUR_RADIUS = 6.0      # how the deletion test blurs a removed region, and the map's blur path
# A ninth of the product's bounding box in words (rows top to bottom, columns left to right).
PLACES = ("the top left", "the top", "the top right", "the left side", "the centre", "the right side",
          "the bottom left", "the bottom", "the bottom right")


def foreground(photo: Image.Image, threshold: int = 240) -> np.ndarray:
    """Pixels that are not the white studio background (all of them when the photo has none)."""
    fg = (np.asarray(photo.convert("RGB"), dtype=np.uint8) < threshold).any(-1)
    return fg if fg.any() else np.ones(fg.shape, bool)


def content_box(encoder: ClipEncoder, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of where a photo of ``size`` lands in the preprocessed frame
    (the rest is padding): found by preprocessing a black photo on the white fill."""
    frame = encoder.preprocess(Image.new("RGB", size, (0, 0, 0)))[0].numpy()
    rows, cols = np.flatnonzero((frame < 0).any(1)), np.flatnonzero((frame < 0).any(0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


METHODS = {"gradcam": GradCAM, "layercam": LayerCAM, "gradcam++": GradCAMPlusPlus,
           "hirescam": HiResCAM, "scorecam": ScoreCAM, "ablationcam": AblationCAM}
DEFAULT_LAYER, DEFAULT_METHOD = "blocks.1", "layercam"


def to_photo(encoder: ClipEncoder, frame: np.ndarray, photo: Image.Image) -> np.ndarray:
    """A map over the preprocessed frame, cropped to the photo's part and resized to its size,
    clipped to [0, 1]."""
    top, left, bottom, right = content_box(encoder, photo.size)
    crop = np.ascontiguousarray(frame[top:bottom, left:right], dtype=np.float32)
    cam = np.asarray(Image.fromarray(crop, mode="F").resize(photo.size, Image.BILINEAR))
    return np.clip(cam, 0.0, 1.0)


def to_frame(encoder: ClipEncoder, cam: np.ndarray, photo: Image.Image) -> np.ndarray:
    """A map at the photo's size placed back where the photo lands in the preprocessed frame
    (zero over the padding): what frame-level metrics such as ROAD take."""
    top, left, bottom, right = content_box(encoder, photo.size)
    side = encoder.preprocess(photo).shape[-1]
    frame = np.zeros((side, side), np.float32)
    frame[top:bottom, left:right] = np.asarray(Image.fromarray(np.asarray(cam, np.float32), mode="F")
                                               .resize((right - left, bottom - top), Image.BILINEAR))
    return frame


class OcclusionMap:
    """A perturbation heat-map (captum's feature ablation on squares): the similarity lost when
    each ``window`` x ``window`` square of the frame is painted white, the squares side by side
    (8 x 8 at 16 px), all in one batch. A square that is already white (studio background,
    padding) would not change when painted, so all of them share one pass: the map is the same
    as occluding every square, at about half the passes. It measures removal directly."""

    def __init__(self, encoder: ClipEncoder, window: int = 16, batch: int = 64):
        from captum.attr import FeatureAblation

        self.encoder = encoder
        self.model = encoder.model.visual.eval()     # pixels -> shared-space vector
        self.window, self.batch = window, batch
        self.ablation = FeatureAblation(self._similarity)
        self.target: torch.Tensor | None = None

    def _similarity(self, pixels: torch.Tensor) -> torch.Tensor:
        return (F.normalize(self.model(pixels), dim=-1) * self.target).sum(-1)

    def squares(self, pixels: torch.Tensor, white: float) -> torch.Tensor:
        """The feature mask: each square's number, one number for all squares already white."""
        n = pixels.shape[-1] // self.window
        blank = (pixels[0] == white).all(0).reshape(n, self.window, n, self.window).all(3).all(1)
        ids = torch.full((n, n), int((~blank).sum()))
        ids[~blank] = torch.arange(int((~blank).sum()))
        mask = ids.repeat_interleave(self.window, 0).repeat_interleave(self.window, 1)
        return mask.expand(1, pixels.shape[1], -1, -1)

    @torch.no_grad()
    def __call__(self, photo: Image.Image, query_vector: np.ndarray) -> HeatMap:
        start = time.perf_counter()
        photo = photo.convert("RGB")
        pixels = self.encoder.preprocess(photo).unsqueeze(0)
        self.target = SimilarityTarget(query_vector).vector
        white = float(pixels.max())
        attr = self.ablation.attribute(pixels, baselines=white, feature_mask=self.squares(pixels, white),
                                       perturbations_per_eval=self.batch)[0].sum(0).numpy()
        similarity = float(self._similarity(pixels)[0])
        attr = np.maximum(attr, 0)
        frame = attr / attr.max() if attr.max() > 0 else attr
        return HeatMap(to_photo(self.encoder, frame, photo), similarity,
                       time.perf_counter() - start, pixels.shape[-1] // self.window)


class IntegratedGradientsMap:
    """Integrated gradients of the similarity over the photo's pixels (captum), along the two
    ways the deletion test takes a region away: from the photo painted white (the catalogue's
    background) to the photo, and from the photo blurred to the photo; ``steps`` points per path,
    all in one batch. Each path's attributions are scaled to the same total before they are
    added, so neither kind of removal dominates. The map keeps every pixel's rank (min-max
    scaled, negative weights lowest): the deletion test removes regions in that order."""

    def __init__(self, encoder: ClipEncoder, steps: int = 8, blur_radius: float = BLUR_RADIUS):
        from captum.attr import IntegratedGradients

        self.encoder = encoder
        self.model = encoder.model.visual.eval()     # pixels -> shared-space vector
        self.steps, self.blur_radius = steps, blur_radius
        self.paths = IntegratedGradients(self._similarity)
        self.target: torch.Tensor | None = None
        self.white = encoder.preprocess(Image.new("RGB", (8, 8), (255, 255, 255))).amax()

    def _similarity(self, pixels: torch.Tensor) -> torch.Tensor:
        return (F.normalize(self.model(pixels), dim=-1) * self.target).sum(-1)

    def __call__(self, photo: Image.Image, query_vector: np.ndarray) -> HeatMap:
        start = time.perf_counter()
        photo = photo.convert("RGB")
        pixels = self.encoder.preprocess(photo).unsqueeze(0)
        self.target = SimilarityTarget(query_vector).vector
        blurred = self.encoder.preprocess(photo.filter(ImageFilter.GaussianBlur(self.blur_radius)))
        total = torch.zeros(pixels.shape[-2:])
        for baseline in (torch.full_like(pixels, float(self.white)), blurred.unsqueeze(0)):
            attr = self.paths.attribute(pixels, baselines=baseline, n_steps=self.steps,
                                        internal_batch_size=self.steps)[0].sum(0).detach()
            total += attr / attr.abs().sum().clamp_min(1e-12)
        with torch.no_grad():
            similarity = float(self._similarity(pixels)[0])
        top, left, bottom, right = content_box(self.encoder, photo.size)
        frame = total.numpy()
        low, high = frame[top:bottom, left:right].min(), frame[top:bottom, left:right].max()
        scale = max(float(high - low), 1e-12)
        return HeatMap(to_photo(self.encoder, (frame - low) / scale, photo), similarity,
                       time.perf_counter() - start, pixels.shape[-1] // 4, zero=float(-low / scale))


class SimilarityCAM:
    """Reusable Grad-CAM for one encoder (the hooks are set up once). ``layer`` names a module
    of the timm image tower (``conv_head`` is 4 x 4 at 128 px, ``blocks.1`` 32 x 32, ``blocks.0``
    64 x 64), or several separated by commas (their maps are averaged); ``method`` one of
    ``METHODS``."""

    def __init__(self, encoder: ClipEncoder, layer: str = DEFAULT_LAYER, method: str = DEFAULT_METHOD):
        self.encoder = encoder
        self.model = encoder.model.visual.eval()     # pixels -> shared-space vector
        trunk = getattr(encoder.model.visual, "trunk", None)
        try:
            targets = [trunk.get_submodule(name.strip()) for name in layer.split(",")]
        except AttributeError:
            raise ValueError(f"{encoder.name}: Grad-CAM needs a timm convolutional image tower "
                             f"with the layers {layer!r}") from None
        self.cam = METHODS[method](self.model, targets)
        self.layer, self.method = layer, method
        self.cam.compute_input_gradient = True     # the towers are frozen: gradients need an input

    def __call__(self, photo: Image.Image, query_vector: np.ndarray) -> HeatMap:
        start = time.perf_counter()
        photo = photo.convert("RGB")
        pixels = self.encoder.preprocess(photo).unsqueeze(0)
        target = SimilarityTarget(query_vector)
        frame = self.cam(input_tensor=pixels, targets=[target])[0]
        grid = max(int(a.shape[-1]) for a in self.cam.activations_and_grads.activations)
        with torch.no_grad():
            similarity = float(target(self.model(pixels)[0]))
        return HeatMap(to_photo(self.encoder, frame, photo), similarity,
                       time.perf_counter() - start, grid)
