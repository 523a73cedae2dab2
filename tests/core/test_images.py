"""cnnviz.core.images: every format decodes to the right pixels; every bad input is refused clearly.

Every image is generated here with PIL, with pixel values chosen so the expected result can be
worked out by hand (comments give the arithmetic).
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cnnviz.core import images as images
from cnnviz.core.images import MAX_PIXELS, MAX_UPLOAD_BYTES, ImageError, check_upload_size, load_image, mnist_style


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def halves(size=(40, 20)) -> Image.Image:
    """Left half black, right half white (RGB)."""
    w, h = size
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, w // 2:] = 255
    return Image.fromarray(arr)


# ------------------------------------------------------------------ formats that must decode
@pytest.mark.parametrize("fmt,kw,exact", [
    ("PNG", {}, True), ("BMP", {}, True), ("TIFF", {}, True), ("WEBP", {"lossless": True}, True),
    ("JPEG", {"quality": 95}, False), ("WEBP", {"quality": 90}, False),
])
def test_rgb_formats_decode_to_same_pixels(fmt, kw, exact):
    src = halves()
    img = load_image(encode(src, fmt, **kw))
    assert img.mode == "RGB" and img.size == (40, 20)
    diff = np.abs(np.asarray(img, np.int16) - np.asarray(src, np.int16))
    # lossless formats are exact; lossy ones stay close away from the black/white edge
    assert diff.max() == 0 if exact else diff[:, :15].max() < 12 and diff[:, 25:].max() < 12


def test_grayscale_stays_single_channel():
    arr = np.array([[0, 50], [200, 255]], np.uint8)
    img = load_image(encode(Image.fromarray(arr, "L"), "PNG"))
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), arr)


def test_one_bit_image_becomes_grayscale():
    src = Image.new("1", (3, 1))
    src.putpixel((1, 0), 1)
    img = load_image(encode(src, "PNG"))
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), [[0, 255, 0]])


def test_gif_first_frame():
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    blue = Image.new("RGB", (8, 8), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    img = load_image(data)
    assert img.mode == "RGB"
    assert tuple(np.asarray(img)[4, 4]) == (255, 0, 0)


def test_exif_orientation_is_applied():
    # Orientation 6 = "rotate 90 degrees clockwise to display": a 40x20 image with a black left
    # half shows as 20x40 with the black half at the top.
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(halves(), "JPEG", quality=95, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).size == (40, 20)
    arr = np.asarray(load_image(data)).mean(axis=2)
    assert arr.shape == (40, 20)  # rows, cols: now tall
    assert arr[:15].mean() < 10 and arr[25:].mean() > 245


def test_exif_orientation_on_pil_input():
    exif = Image.Exif()
    exif[0x0112] = 3  # rotate 180: black half moves to the right
    img = Image.open(io.BytesIO(encode(halves(), "JPEG", quality=95, exif=exif.tobytes())))
    arr = np.asarray(load_image(img)).mean(axis=2)
    assert arr.shape == (20, 40) and arr[:, :15].mean() > 245 and arr[:, 25:].mean() < 10


def test_rgba_composited_onto_white():
    # alpha a over white: out = a*c + (1-a)*255. Pixel 0: transparent -> white; pixel 1: opaque red;
    # pixel 2: red at alpha 128/255 -> R = 255, G = B = 255*127/255 = 127
    arr = np.array([[[0, 0, 0, 0], [255, 0, 0, 255], [255, 0, 0, 128]]], np.uint8)
    img = load_image(encode(Image.fromarray(arr, "RGBA"), "PNG"))
    assert img.mode == "RGB"
    out = np.asarray(img, np.int16)[0]
    np.testing.assert_array_equal(out[0], [255, 255, 255])
    np.testing.assert_array_equal(out[1], [255, 0, 0])
    assert out[2, 0] == 255 and abs(out[2, 1] - 127) <= 1 and abs(out[2, 2] - 127) <= 1


def test_grayscale_with_alpha_onto_white():
    arr = np.array([[[0, 0], [0, 255]]], np.uint8)  # transparent black, opaque black
    img = load_image(encode(Image.fromarray(arr, "LA"), "PNG"))
    out = np.asarray(img.convert("L"))[0]
    np.testing.assert_array_equal(out, [255, 0])


def test_palette_with_transparency_onto_white():
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 0, 0, 200, 0] + [0] * (254 * 3))  # index 0 black, index 1 green
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    data = encode(pal, "PNG", transparency=0)
    img = load_image(data)
    assert img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img)[0], [[255, 255, 255], [0, 200, 0]])


def test_palette_without_transparency():
    pal = Image.new("P", (1, 1))
    pal.putpalette([10, 20, 30] + [0] * 765)
    img = load_image(encode(pal, "PNG"))
    np.testing.assert_array_equal(np.asarray(img)[0, 0], [10, 20, 30])


def test_cmyk_tiff_to_rgb():
    # PIL's CMYK->RGB: R = 255 - C - K (clipped) etc.; (0, 255, 255, 0) is pure red
    # and (0, 0, 0, 255) is black
    src = Image.new("CMYK", (2, 1))
    src.putpixel((0, 0), (0, 255, 255, 0))
    src.putpixel((1, 0), (0, 0, 0, 255))
    img = load_image(encode(src, "TIFF"))
    assert img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img)[0], [[255, 0, 0], [0, 0, 0]])


def test_cmyk_jpeg_to_rgb():
    src = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    img = load_image(encode(src, "JPEG", quality=95))
    assert img.mode == "RGB"
    r, g, b = np.asarray(img, np.int16)[8, 8]
    assert r > 240 and g < 15 and b < 15


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_scaled_to_8_bit(fmt):
    # v * 255 / 65535: 0 -> 0, 65535 -> 255, 32768 -> 127.5 -> 128, 1000 -> 3.9 -> 4
    arr = np.array([[0, 65535], [32768, 1000]], np.uint16)
    src = Image.fromarray(arr)
    assert src.mode.startswith("I;16")
    img = load_image(encode(src, fmt))
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), [[0, 255], [128, 4]])


def test_path_and_file_object_inputs(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(encode(halves(), "PNG"))
    assert load_image(p).size == (40, 20)
    assert load_image(str(p)).size == (40, 20)
    with open(p, "rb") as f:
        assert load_image(f).size == (40, 20)


def test_array_inputs():
    assert load_image(np.zeros((5, 6), np.uint8)).mode == "L"
    img = load_image(np.ones((5, 6, 3), np.float32) * 0.5)  # floats in [0, 1] scale to 0..255
    assert img.mode == "RGB" and np.asarray(img)[0, 0, 0] == 127
    with pytest.raises(ImageError, match="HxW"):
        load_image(np.zeros((5, 6, 2), np.uint8))


# ------------------------------------------------------------------ inputs that must be refused
def test_zero_bytes_refused():
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_refused(fmt):
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(data[: len(data) // 2])


def test_text_file_with_image_extension_refused(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is a shopping list, not a picture\n")
    with pytest.raises(ImageError, match="not an image"):
        load_image(p)


def png_header_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR (+ a tiny IDAT, IEND) that claims ``width`` x ``height`` 8-bit gray.

    Only the header is built: nothing near width*height bytes is ever allocated.
    """
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("w,h", [(8000, 8000), (100_000, 100_000)])
def test_decompression_bomb_refused(w, h):
    # 8000x8000 = 64 MP is over our 50 MP limit but under Pillow's own warning threshold (89 MP);
    # 100000^2 = 10 GP trips Pillow's hard limit first. Both must give an ImageError.
    assert w * h > MAX_PIXELS
    data = png_header_claiming(w, h)
    assert len(data) < 200
    with pytest.raises(ImageError, match="decompression bomb|too large"):
        load_image(data)


def test_image_just_under_pixel_limit_header_is_not_refused_for_size():
    # a 100x100 header with too little data: refused as truncated, not as a bomb
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(png_header_claiming(100, 100))


def test_upload_over_size_limit_refused(tmp_path):
    big = b"\0" * (MAX_UPLOAD_BYTES + 1)
    with pytest.raises(ImageError, match="MiB"):
        load_image(big)
    with pytest.raises(ImageError, match="MiB"):
        load_image(io.BytesIO(big))
    p = tmp_path / "big.png"
    p.write_bytes(big)
    with pytest.raises(ImageError, match="MiB"):
        load_image(p)
    with pytest.raises(ImageError, match="MiB"):
        check_upload_size(MAX_UPLOAD_BYTES + 1, "big.png")
    check_upload_size(MAX_UPLOAD_BYTES, "ok.png")  # exactly at the limit is fine


def test_limits_live_in_one_place():
    assert images.MAX_UPLOAD_BYTES == MAX_UPLOAD_BYTES and images.MAX_PIXELS == MAX_PIXELS
    assert MAX_UPLOAD_BYTES <= 200 * 2**20  # below Streamlit's own default upload cap
    assert {"png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"} <= set(images.ACCEPTED_TYPES)


def test_unsupported_source_type():
    with pytest.raises(ImageError, match="path, bytes"):
        load_image(12345)


# ------------------------------------------------------------------ drawings for the 28x28 models
def test_mnist_style_centres_and_scales_a_stroke():
    # a 10x40 white bar on a 200x200 black canvas: bounding box 10 wide x 40 tall is scaled so its
    # long side is 20 px (factor 0.5 -> 5x20), then centred by mass in 28x28.
    canvas = np.zeros((200, 200), np.uint8)
    canvas[10:50, 150:160] = 255
    out = np.asarray(mnist_style(canvas))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    ys, xs = np.nonzero(out > 127)
    assert 18 <= ys.max() - ys.min() + 1 <= 21 and 4 <= xs.max() - xs.min() + 1 <= 7
    m = out.astype(float)
    cy = (m.sum(1) * np.arange(28)).sum() / m.sum()
    cx = (m.sum(0) * np.arange(28)).sum() / m.sum()
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1


def test_mnist_style_inverts_dark_on_light_and_handles_blank():
    canvas = np.full((100, 100), 255, np.uint8)
    canvas[40:60, 45:55] = 0  # black stroke on white paper
    out = np.asarray(mnist_style(canvas))
    assert out[0, 0] == 0 and out.max() == 255  # light stroke on black, as MNIST
    assert np.asarray(mnist_style(np.zeros((50, 50), np.uint8))).max() == 0  # empty canvas stays empty


def test_mnist_style_reads_rgba_canvas_strokes():
    # the drawing component returns RGBA with a transparent background: only alpha carries the stroke
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[20:80, 45:55] = (255, 255, 255, 255)
    out = np.asarray(mnist_style(rgba))
    assert out.max() == 255 and out[0, 0] == 0


def test_models_get_the_channels_they_need(lenet, resnet18_untrained):
    rgb = Image.new("RGB", (50, 40), (255, 0, 0))
    gray = Image.new("L", (50, 40), 128)
    assert lenet.prepare_image(rgb).mode == "L" and lenet.prepare_image(rgb).size == (28, 28)
    seen = resnet18_untrained.prepare_image(gray)
    assert seen.mode == "RGB" and seen.size == (224, 224)
    assert np.asarray(seen)[100, 100].tolist() == [128, 128, 128]


@pytest.mark.parametrize("name", ["lenet5-mnist", "small-vgg-fashion", "resnet18", "resnet50", "mobilenet_v3_small"])
def test_what_the_model_sees_is_the_prepared_image(name):
    # the sidebar shows deprocess(preprocess(img)): it must equal the resized/cropped/converted image
    # itself (up to rounding), at the model's input size, for every kind of preprocessing
    import cnnviz
    m = cnnviz.load_model(name, untrained=name not in ("lenet5-mnist", "small-vgg-fashion"))
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    seen = m.deprocess(m.preprocess(img))
    c, h, w = m.input_size
    assert seen.shape == ((h, w) if c == 1 else (h, w, 3)) and seen.dtype == np.uint8
    diff = np.abs(seen.astype(int) - np.asarray(m.prepare_image(img), int))
    assert diff.max() <= 1


def test_file_cut_inside_its_header_is_called_truncated():
    data = encode(halves(), "PNG")[:30]  # signature + part of IHDR
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(data)
