"""Small dataset files for tests: PNGs (random or flat image folders too), class folders, zips (honest, bombs, with planted names) and a PNG
decompression bomb written without ever holding its pixels."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png(size: tuple[int, int] = (4, 4)) -> bytes:
    """A small red RGB PNG."""
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def write_images(folder: Path, count: int, size: int = 12, seed: int = 0, value: int | None = None) -> list[Path]:
    """``count`` random RGB PNGs (or flat ones of ``value``) named 0.png, 1.png, ..."""
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        if value is None:
            array = rng.randint(0, 256, (size, size, 3), dtype=np.uint8)
        else:
            array = np.full((size, size, 3), value, dtype=np.uint8)
        path = folder / f"{i}.png"
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


def write_folders(root: Path, splits=("train", "val"), classes=("cat", "dog"), per_class=2) -> None:
    """CustomDataset class folders: ``<split>/<class>/<i>.png``."""
    for split in splits:
        for cls in classes:
            (root / split / cls).mkdir(parents=True)
            for i in range(per_class):
                (root / split / cls / f"{i}.png").write_bytes(png())


def make_zip(files: dict, compression: int = zipfile.ZIP_STORED) -> io.BytesIO:
    """A zip of ``{name: bytes}`` as an upload (a named file object at its start)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    buf.seek(0)
    buf.name = "data.zip"
    return buf


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit greyscale PNG of one colour: ``width x height`` pixels (400 Mpx by default, 1.2 GB once
    decoded to RGB) in a few tens of KiB. Its rows are compressed one at a time, so making it needs no
    memory for its pixels either."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def lying_zip(name: str, data: bytes, *, file_size: int | None = None, compress_size: int | None = None) -> io.BytesIO:
    """A one-member deflated zip whose central directory declares other sizes than its data has (a zip that
    lies: ``file_size`` smaller than the data, or ``compress_size`` larger than the bytes it holds)."""
    raw = bytearray(make_zip({name: data}, zipfile.ZIP_DEFLATED).getvalue())
    central = raw.rindex(b"PK\x01\x02")
    if compress_size is not None:
        raw[central + 20:central + 24] = struct.pack("<I", compress_size)
    if file_size is not None:
        raw[central + 24:central + 28] = struct.pack("<I", file_size)
    buf = io.BytesIO(bytes(raw))
    buf.name = "data.zip"
    return buf


def png_with_bad_pixels() -> bytes:
    """A PNG whose chunks and checksums are all in order but whose pixel data does not inflate: what
    ``Image.verify()`` passes and decoding (``load()``) refuses."""
    data = bytearray(png((16, 16)))
    start = data.index(b"IDAT")
    length = struct.unpack(">I", data[start - 4:start])[0]
    data[start + 4:start + 4 + length] = b"\xff" * length
    data[start + 4 + length:start + 8 + length] = struct.pack(">I", zlib.crc32(bytes(data[start:start + 4 + length])))
    return bytes(data)
