"""Checks on a shopper's uploaded photo: size and pixel limits, and that it is an image at all.
A bad upload becomes a message in the chat, never a stack trace."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from retrieval import ImageError, open_rgb

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000


class UploadError(ValueError):
    """The message to show the shopper."""


def check_upload(path: str | Path | None) -> str | None:
    """``path`` when it is a readable photo within the limits; raises ``UploadError``."""
    if not path:
        return None
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise UploadError(f"That file is {size / 2**20:.1f} MB; photos up to "
                          f"{MAX_BYTES // 2**20} MB are accepted.")
    try:
        with Image.open(path) as im:
            width, height = im.size
    except (OSError, Image.DecompressionBombError):
        raise UploadError("That file is not an image I can read (JPEG, PNG or WebP please).") from None
    if width * height > MAX_PIXELS:
        raise UploadError(f"That photo is {width} x {height} pixels; up to "
                          f"{MAX_PIXELS // 1_000_000} megapixels are accepted.")
    try:
        open_rgb(path)
    except ImageError as exc:
        raise UploadError(f"That image could not be read: {exc}.") from None
    return str(path)
