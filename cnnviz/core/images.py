"""Image decoding that refuses bad input with a clear message.

All limits live here: ``MAX_UPLOAD_BYTES`` and ``MAX_PIXELS``.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnviz.errors import CnnvizError

MAX_UPLOAD_BYTES = 25 * 2**20  # 25 MiB: larger uploads are refused before decoding
MAX_PIXELS = 50_000_000  # ~7000x7000: beyond this an image is treated as a decompression bomb
ACCEPTED_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"]

# how image formats start: a file that starts like one but cannot be read is damaged, not "not an image"
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")

ImageSource = str | os.PathLike | bytes | bytearray | BinaryIO | Image.Image | np.ndarray


class ImageError(CnnvizError):
    """An input that cannot be used as an image; the message says why and what to do."""


def check_upload_size(nbytes: int, name: str = "the file") -> None:
    """Refuse an upload over :data:`MAX_UPLOAD_BYTES` before reading it.

    Args:
        nbytes: the size of the upload in bytes.
        name: the file name, for the message.

    Examples::

        >>> check_upload_size(1024, "cat.jpg")  # fine: returns None
    """
    if nbytes > MAX_UPLOAD_BYTES:
        raise ImageError(f"{name} is {nbytes / 2**20:.2f} MiB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MiB. "
                         "Resize or recompress it (e.g. save as JPEG at 2000 px on the long side).")


def _read_bytes(src) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    if isinstance(src, (str, os.PathLike)):
        p = Path(src)
        if not p.is_file():
            raise ImageError(f"no image file at {p}")
        check_upload_size(p.stat().st_size, p.name)
        return p.read_bytes()
    if hasattr(src, "read"):
        data = src.read(MAX_UPLOAD_BYTES + 1)
        return data
    raise ImageError(f"cannot read an image from a {type(src).__name__}; "
                     "give a path, bytes, a file object, a PIL image or an array")


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float images scaled to 8 bits over their own range."""
    arr = np.asarray(img).astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if img.mode.startswith("I;16") or img.mode == "I":
        # 16-bit data: use the full 16-bit scale unless values stay within 8 bits
        scale = 65535.0 if hi > 255 else 255.0
        arr = arr / scale * 255.0
    elif hi > lo:
        arr = (arr - lo) / (hi - lo) * 255.0
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L")


def normalize_mode(img: Image.Image) -> Image.Image:
    """Any PIL image to 'RGB' or 'L': transparency onto white, CMYK/YCbCr/palette to RGB, 16-bit to 8-bit."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _to_8bit(img)
    if img.mode == "1":
        return img.convert("L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "La", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "RGBa"):
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
        return rgb
    if img.mode in ("L", "RGB"):
        return img
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def load_image(src: ImageSource) -> Image.Image:
    """Decode an image robustly into an 'RGB' or 'L' PIL image.

    Handles PNG, JPEG, WebP, BMP, TIFF, GIF (first frame), EXIF orientation, transparency
    (composited onto white), palette, CMYK and 16-bit images. Refuses empty, truncated,
    non-image, oversized and decompression-bomb inputs with an :class:`ImageError`.

    Args:
        src: a path, bytes, a binary file object, a PIL image or a uint8 array (HxW or HxWx3).

    Examples::

        >>> img = load_image("assets/samples/digit-7.png")
        >>> img.mode, img.size
        ('L', (28, 28))
    """
    if isinstance(src, Image.Image):
        return normalize_mode(ImageOps.exif_transpose(src) or src)
    if isinstance(src, np.ndarray):
        arr = src
        if arr.dtype != np.uint8:
            arr = np.clip(arr * (255 if arr.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise ImageError(f"an image array must be HxW, HxWx3 or HxWx4; got shape {arr.shape}")
        return normalize_mode(Image.fromarray(arr))
    data = _read_bytes(src)
    if len(data) == 0:
        raise ImageError("the file is empty (0 bytes); choose an image file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"the file is over the {MAX_UPLOAD_BYTES / 2**20:.0f} MiB limit (MiB = 2^20 bytes); "
                         "resize or recompress it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"the image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                                 f"{MAX_PIXELS / 1e6:.0f} MP (larger ones are refused as possible decompression "
                                 "bombs). Downscale it first.")
            img.load()  # an animated GIF/WebP opens on its first frame; later frames are never decoded
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"the image is too large to decode safely ({e}); downscale it first") from None
    except UnidentifiedImageError:
        if data.startswith(_SIGNATURES):
            raise ImageError("the image file is damaged or truncated (it starts like an image but cannot be decoded); "
                             "re-export it and try again") from None
        raise ImageError("this is not an image PIL can read (the content is not PNG, JPEG, WebP, BMP, TIFF or GIF, "
                         "whatever its extension says)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"the image file is damaged or truncated ({e}); re-export it and try again") from None
    img = ImageOps.exif_transpose(img) or img
    return normalize_mode(img)


def mnist_style(drawing: np.ndarray | Image.Image, box: int = 20, size: int = 28) -> Image.Image:
    """A drawing turned into an MNIST-like image: light strokes on black, the strokes' bounding box
    scaled so its long side is ``box`` pixels, centred by centre of mass in a ``size`` x ``size`` frame.

    This is how MNIST itself was made (digits fitted to 20x20, centred by mass in 28x28), so a drawn
    digit looks to the network like the digits it was trained on.

    Args:
        drawing: an HxW, HxWx3 or HxWx4 uint8 array or a PIL image. With a transparent background
            (RGBA from a drawing canvas) the alpha channel is the ink; otherwise dark-on-light
            drawings are inverted.
        box: the long side of the strokes' bounding box after scaling (20 for MNIST digits,
            about 26 for Fashion-MNIST clothes, which fill the frame).
        size: the output side length.

    Examples::

        >>> canvas = np.zeros((280, 280), np.uint8); canvas[40:240, 130:150] = 255
        >>> mnist_style(canvas).size
        (28, 28)
    """
    arr = np.asarray(drawing)
    if arr.ndim == 3 and arr.shape[2] == 4 and arr[..., 3].min() < 255:
        ink = arr[..., 3].astype(np.float64)
    else:
        gray = np.asarray(load_image(arr).convert("L"), np.float64)
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        ink = 255.0 - gray if border.mean() > 127 else gray
        ink = np.clip(ink - np.median(border if border.mean() <= 127 else 255.0 - border), 0, 255)
    if ink.max() <= 0:
        return Image.new("L", (size, size), 0)
    ys, xs = np.nonzero(ink > 0.1 * ink.max())
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    s = box / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = np.asarray(Image.fromarray(crop.astype(np.float32), "F").resize((nw, nh), Image.LANCZOS), np.float64)
    small = np.clip(small, 0, None)
    total = small.sum()
    cy = (small.sum(1) * np.arange(nh)).sum() / total if total else nh / 2
    cx = (small.sum(0) * np.arange(nw)).sum() / total if total else nw / 2
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - nh))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - nw))
    out = np.zeros((size, size), np.float64)
    out[top:top + nh, left:left + nw] = small
    out = out / out.max() * 255.0 if out.max() > 0 else out
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8), "L")


def to_grayscale(img: Image.Image) -> Image.Image:
    return img if img.mode == "L" else img.convert("L")


def to_rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")
