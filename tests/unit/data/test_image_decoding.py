"""LoadImageFromFile decodes as MMCls 0.25 does (OpenCV's ``cv2.imdecode``: BGR, EXIF-upright, 16-bit and
alpha handling per ``color_type``), refuses an image over the pixel limit from its header before decoding,
and decodes with Pillow on ``backend='pillow'`` (issue 15)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from workers.data.transforms.loading import ImageTooLarge, image_size, imfrombytes, imread
from workers.registry import TRANSFORMS

# a BGR picture with a distinct colour in each corner, so that flips and rotations show
CORNERS = {(0, 0): (10, 20, 200), (0, -1): (200, 10, 20), (-1, 0): (20, 200, 10), (-1, -1): (250, 250, 250)}


def _picture(height: int = 24, width: int = 40) -> np.ndarray:
    img = np.full((height, width, 3), 90, dtype=np.uint8)
    for (y, x), bgr in CORNERS.items():
        rows = slice(0, 6) if y == 0 else slice(height - 6, height)
        cols = slice(0, 6) if x == 0 else slice(width - 6, width)
        img[rows, cols] = bgr
    return img


def _encode(array: np.ndarray, fmt: str, mode: str | None = None, **params) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=fmt, **params) if mode else \
        Image.fromarray(array).save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _load(tmp_path, data: bytes, name: str, **cfg) -> np.ndarray:
    (tmp_path / name).write_bytes(data)
    load = TRANSFORMS.build({"type": "LoadImageFromFile", **cfg})
    results = load({"img_prefix": str(tmp_path), "img_info": {"filename": name}})
    assert results["img_shape"] == results["ori_shape"] == results["img"].shape
    return results["img"]


def test_it_decodes_colour_in_bgr_order_without_loss_from_png(tmp_path):
    bgr = _picture()
    img = _load(tmp_path, _encode(bgr[..., ::-1].copy(), "PNG"), "a.png")
    assert img.dtype == np.uint8 and img.flags.c_contiguous and np.array_equal(img, bgr)
    as_float = _load(tmp_path, _encode(bgr[..., ::-1].copy(), "PNG"), "a.png", to_float32=True)
    assert as_float.dtype == np.float32 and np.array_equal(as_float, bgr.astype(np.float32))


def test_it_decodes_a_jpeg_close_to_its_pixels(tmp_path):
    bgr = _picture()
    img = _load(tmp_path, _encode(bgr[..., ::-1].copy(), "JPEG", quality=95), "a.jpg")
    assert img.shape == bgr.shape
    assert np.abs(img[2, 2].astype(int) - bgr[2, 2]).max() <= 8  # the red corner is red in BGR order


def test_it_gives_grey_images_three_equal_channels_or_one(tmp_path):
    grey = _picture()[..., 1].copy()
    data = _encode(grey, "PNG")
    colour = _load(tmp_path, data, "g.png")
    assert colour.shape == grey.shape + (3,) and all(np.array_equal(colour[..., c], grey) for c in range(3))
    assert np.array_equal(_load(tmp_path, data, "g.png", color_type="grayscale"), grey)
    assert np.array_equal(_load(tmp_path, data, "g.png", color_type="unchanged"), grey)


def test_it_keeps_16_bits_only_when_unchanged(tmp_path):
    deep = (np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 541).astype(np.uint16)
    data = _encode(deep, "PNG")
    unchanged = _load(tmp_path, data, "d.png", color_type="unchanged")
    assert unchanged.dtype == np.uint16 and np.array_equal(unchanged, deep)
    colour = _load(tmp_path, data, "d.png")
    # OpenCV keeps the high byte when it reduces 16 bits to 8 (mmcv's 'color')
    assert colour.dtype == np.uint8 and colour.shape == (12, 10, 3)
    assert np.array_equal(colour[..., 0], (deep >> 8).astype(np.uint8))


def test_it_drops_alpha_for_colour_and_keeps_it_last_when_unchanged(tmp_path):
    bgr = _picture()
    alpha = np.tile(np.arange(bgr.shape[1], dtype=np.uint8) * 6, (bgr.shape[0], 1))
    data = _encode(np.dstack([bgr[..., ::-1], alpha]), "PNG", mode="RGBA")
    assert np.array_equal(_load(tmp_path, data, "a.png"), bgr)
    bgra = _load(tmp_path, data, "a.png", color_type="unchanged")
    assert bgra.shape == bgr.shape[:2] + (4,) and np.array_equal(bgra[..., :3], bgr)
    assert np.array_equal(bgra[..., 3], alpha)


def test_it_decodes_palette_images_to_their_colours(tmp_path):
    bgr = _picture()
    data = _encode(bgr[..., ::-1].copy(), "PNG")
    palette = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(palette, "PNG")
    assert np.array_equal(_load(tmp_path, palette.getvalue(), "p.png"), bgr)  # 5 colours fit in the palette


def _exif_rotated_jpeg(orientation: int = 6) -> bytes:
    pil = Image.fromarray(_picture()[..., ::-1].copy())
    exif = pil.getexif()
    exif[0x0112] = orientation  # 6: the camera was turned; viewers rotate 90 degrees clockwise
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def test_it_turns_an_exif_rotated_jpeg_upright_for_colour_and_grayscale_only(tmp_path):
    data = _exif_rotated_jpeg()
    upright = _load(tmp_path, data, "r.jpg")
    assert upright.shape == (40, 24, 3)
    stored_top_left = np.array(CORNERS[(0, 0)])
    assert np.abs(upright[2, -3].astype(int) - stored_top_left).max() <= 12  # now at the top right
    assert _load(tmp_path, data, "r.jpg", color_type="grayscale").shape == (40, 24)
    for color_type in ("unchanged", "color_ignore_orientation"):
        stored = _load(tmp_path, data, "r.jpg", color_type=color_type)
        assert stored.shape == (24, 40, 3)
        assert np.abs(stored[2, 2].astype(int) - stored_top_left).max() <= 12


def test_the_pillow_backend_decodes_as_mmcvs_pillow_backend(tmp_path):
    bgr = _picture()
    png = _encode(bgr[..., ::-1].copy(), "PNG")
    assert np.array_equal(_load(tmp_path, png, "a.png", backend="pillow"), bgr)
    rotated = _load(tmp_path, _exif_rotated_jpeg(), "r.jpg", backend="pillow")
    assert rotated.shape == (40, 24, 3)
    opencv = _load(tmp_path, _exif_rotated_jpeg(), "r.jpg")
    assert np.abs(rotated.astype(int) - opencv).mean() < 3  # two JPEG decoders: close, not always equal
    # grey + alpha: mmcv's Pillow backend lays it on a fixed background colour, OpenCV drops the alpha
    la = np.dstack([np.full((4, 5), 200, np.uint8), np.zeros((4, 5), np.uint8)])
    data = _encode(la, "PNG", mode="LA")
    assert _load(tmp_path, data, "la.png", backend="pillow")[0, 0].tolist() == [104, 117, 124]
    assert _load(tmp_path, data, "la.png")[0, 0].tolist() == [200, 200, 200]
    with pytest.raises(ValueError, match="backend must be 'cv2' or 'pillow'"):
        TRANSFORMS.build({"type": "LoadImageFromFile", "backend": "turbojpeg"})


def test_it_decodes_what_opencv_cannot_read_with_pillow(tmp_path):
    bgr = _picture()
    gif = _encode(bgr[..., ::-1].copy(), "GIF")
    assert np.array_equal(_load(tmp_path, gif, "a.gif"), bgr)
    (tmp_path / "not.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="not an image that can be read"):
        imread(str(tmp_path / "not.png"))


def test_it_never_decodes_a_format_whose_size_no_header_check_reads(tmp_path, monkeypatch):
    """A Radiance HDR file (OpenCV decodes it, Pillow cannot read its header) declaring 20000 x 20000 pixels:
    with the pixel limit unchecked, OpenCV would allocate it; it is refused before any decoder sees it."""
    import cv2

    ok, small = cv2.imencode(".hdr", np.ones((4, 5, 3), np.float32))
    assert ok and cv2.imdecode(small, cv2.IMREAD_COLOR).shape == (4, 5, 3)  # OpenCV reads the format
    bomb = bytes(small).replace(b"-Y 4 +X 5", b"-Y 20000 +X 20000")
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("the bytes reached OpenCV's decoder"))
    with pytest.raises(ValueError, match="not an image that can be read"):
        _load(tmp_path, bomb, "bomb.hdr")


def _with_declared_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its start-of-frame header declaring another size (the scan data stays small)."""
    start = jpeg.index(b"\xff\xc0")
    return jpeg[:start + 5] + struct.pack(">HH", height, width) + jpeg[start + 9:]


def test_the_pixel_limit_reads_jpeg_and_png_headers_before_decoding(tmp_path, monkeypatch):
    jpeg = _encode(_picture(), "JPEG")
    assert image_size(jpeg) == (40, 24) and image_size(_encode(_picture(), "PNG")) == (40, 24)
    assert image_size(_encode(_picture(), "BMP")) == (40, 24)  # other formats: Pillow reads the header
    monkeypatch.setenv("TRAINYARD_MAX_IMAGE_PIXELS", str(40 * 24 - 1))
    for name, data in (("a.jpg", jpeg), ("a.png", _encode(_picture(), "PNG")), ("a.bmp", _encode(_picture(), "BMP"))):
        (tmp_path / name).write_bytes(data)
        for backend in ("cv2", "pillow"):
            with pytest.raises(ImageTooLarge, match=r"40x24 = 960 pixels, over the limit of 959"):
                imread(str(tmp_path / name), backend=backend)
    monkeypatch.setenv("TRAINYARD_MAX_IMAGE_PIXELS", str(40 * 24))
    assert imread(str(tmp_path / "a.jpg")).shape == (24, 40, 3)


def test_a_jpeg_whose_header_declares_a_bomb_is_refused_unread(tmp_path, monkeypatch):
    bomb = _with_declared_size(_encode(_picture(), "JPEG"), 30000, 30000)
    with pytest.raises(ImageTooLarge, match=r"Image size \(900000000 pixels\) exceeds limit of \d+ pixels"):
        imfrombytes(bomb, name="bomb.jpg")
    monkeypatch.setenv("TRAINYARD_MAX_IMAGE_PIXELS", str(10 ** 10))  # ours allows it: Pillow's limit still holds
    with pytest.raises(ImageTooLarge, match="could be decompression bomb"):
        imfrombytes(bomb, name="bomb.jpg")
    monkeypatch.setenv("TRAINYARD_MAX_IMAGE_PIXELS", str(8000 * 8000 - 1))
    with pytest.raises(ImageTooLarge, match="8000x8000 = 64000000 pixels"):
        imfrombytes(_with_declared_size(_encode(_picture(), "JPEG"), 8000, 8000))
