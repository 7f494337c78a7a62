"""Open product photos safely: every failure becomes a reason string, never an exception."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile

# A decompression bomb is any image above this many pixels; PIL warns at this limit, we refuse.
MAX_PIXELS = 40_000_000
MIN_SIDE = 8
MAX_SIDE = 12_000
MAX_ASPECT = 12.0
MAX_FILE_BYTES = 50 * 2**20

ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(ValueError):
    """An image that cannot be used; the message says why."""


@dataclass(frozen=True)
class ImageCheck:
    ok: bool
    reason: str = ""       # why it failed, or what was repaired ("converted CMYK to RGB")


def open_rgb(source, background=(255, 255, 255)) -> tuple[Image.Image, str]:
    """Decode ``source`` (path or file object) fully and return an RGB image and a repair note.

    Raises ImageError for missing, empty, truncated, corrupt, bomb-sized or absurdly shaped files.
    Palette, grey, CMYK and alpha images are converted; transparency is flattened on ``background``
    (product photos are shot on white).
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            if not path.is_file():
                raise ImageError("missing image file")
            size = path.stat().st_size
        except (OSError, ValueError) as exc:          # a name too long, a NUL byte in it
            raise ImageError(f"unusable image path ({type(exc).__name__}: {exc})") from None
        if size == 0:
            raise ImageError("empty image file")
        if size > MAX_FILE_BYTES:
            raise ImageError(f"image file too large ({size} bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(source)
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"decompression bomb ({w}x{h} pixels)")
            if min(w, h) < MIN_SIDE or max(w, h) > MAX_SIDE or max(w, h) / min(w, h) > MAX_ASPECT:
                raise ImageError(f"absurd image size {w}x{h}")
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"decompression bomb ({exc})") from None
    except OSError as exc:
        text = str(exc)
        if "truncated" in text.lower():
            raise ImageError("truncated image") from None
        raise ImageError(f"corrupt image ({text})") from None
    except Exception as exc:  # PIL raises many types for malformed files
        raise ImageError(f"corrupt image ({type(exc).__name__}: {exc})") from None
    return to_rgb(img, background)


def to_rgb(img: Image.Image, background=(255, 255, 255)) -> tuple[Image.Image, str]:
    """Convert any PIL mode to RGB, flattening alpha on ``background``; returns (image, note)."""
    mode = img.mode
    if mode == "RGB":
        return img, ""
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, background)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat, f"converted {mode} to RGB (alpha flattened on white)"
    return img.convert("RGB"), f"converted {mode} to RGB"


def check_image(path: str | Path) -> ImageCheck:
    """Fully decode the image at ``path``; ok with a repair note, or not ok with the reason."""
    try:
        _, note = open_rgb(path)
    except ImageError as exc:
        return ImageCheck(False, str(exc))
    return ImageCheck(True, note)
