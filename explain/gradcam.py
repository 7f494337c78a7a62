"""Grad-CAM for a *similarity*: which regions of a product photo make its image vector close to
a query vector (pytorch-grad-cam, with the cosine similarity as the target).

The default is LayerCAM on ``blocks.1`` (32 x 32 cells at 128 px). In the ``faithfulness``
benchmark (120 matches of the Myntra catalogue) removing its top regions lowered the similarity
more than removing random regions for 58% of matches (blurred regions; 41% filled with white),
against 45% / 36% for classic Grad-CAM on the last convolution (``conv_head``, 4 x 4 cells,
selectable). ``blocks.0`` scored 61% / 53% but its maps hardly depend on the query (two products
side by side light up alike for either one's query), so it is not the default."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_grad_cam import AblationCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.utils.image import show_cam_on_image

from retrieval.encoders import ClipEncoder


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

    @property
    def empty(self) -> bool:
        """No region raised the similarity (every weighted activation was negative)."""
        return bool(self.cam.max() <= 0)

    def overlay(self, photo: Image.Image, weight: float = 0.5) -> Image.Image:
        rgb = np.asarray(photo.convert("RGB").resize(self.cam.shape[::-1]), dtype=np.float32) / 255
        return Image.fromarray(show_cam_on_image(rgb, self.cam, use_rgb=True, image_weight=weight))

    def overlay_png(self, photo: Image.Image) -> bytes:
        buf = io.BytesIO()
        self.overlay(photo).save(buf, format="PNG")
        return buf.getvalue()


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


class OcclusionMap:
    """A perturbation heat-map (captum's Occlusion): the similarity lost when a ``window`` x
    ``window`` square of the frame is painted white, for squares every ``stride`` pixels. Slower
    than Grad-CAM (one forward pass per square, batched) but it measures removal directly."""

    def __init__(self, encoder: ClipEncoder, window: int = 16, stride: int = 8, batch: int = 64):
        from captum.attr import Occlusion

        self.encoder = encoder
        self.model = encoder.model.visual.eval()     # pixels -> shared-space vector
        self.window, self.stride, self.batch = window, stride, batch
        self.occlusion = Occlusion(self._similarity)
        self.target: torch.Tensor | None = None

    def _similarity(self, pixels: torch.Tensor) -> torch.Tensor:
        return (F.normalize(self.model(pixels), dim=-1) * self.target).sum(-1)

    @torch.no_grad()
    def __call__(self, photo: Image.Image, query_vector: np.ndarray) -> HeatMap:
        start = time.perf_counter()
        photo = photo.convert("RGB")
        pixels = self.encoder.preprocess(photo).unsqueeze(0)
        self.target = SimilarityTarget(query_vector).vector
        white = torch.ones_like(pixels) * float(pixels.max())
        attr = self.occlusion.attribute(
            pixels, sliding_window_shapes=(3, self.window, self.window),
            strides=(3, self.stride, self.stride), baselines=white,
            perturbations_per_eval=self.batch)[0].sum(0).numpy()
        similarity = float(self._similarity(pixels)[0])
        attr = np.maximum(attr, 0)
        frame = attr / attr.max() if attr.max() > 0 else attr
        grid = pixels.shape[-1] // self.stride
        return HeatMap(to_photo(self.encoder, frame, photo), similarity,
                       time.perf_counter() - start, grid)


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
