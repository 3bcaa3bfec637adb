"""CIFAR-format files for tests: batches as the published archives hold them (pickled by Python 2, protocol 2),
batches pickled by the installed Python and numpy, and hostile pickles that plant a marker file when unpickled.
"""
from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]


# --- Python 2's cPickle, protocol 2 -----------------------------------------------------------------------


def _py2_str(data: bytes) -> bytes:
    """A Python 2 ``str``: SHORT_BINSTRING or BINSTRING (read back as ``str`` with ``encoding='latin1'``)."""
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<i", len(data)) + data


def _py2_int(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes([n])
    return b"J" + struct.pack("<i", n)


def _py2(obj) -> bytes:
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        return _py2_int(obj)
    if isinstance(obj, str):
        return _py2_str(obj.encode("latin1"))
    if isinstance(obj, list):
        return b"](" + b"".join(_py2(x) for x in obj) + b"e"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_py2(k) + _py2(v) for k, v in obj.items()) + b"u"
    if isinstance(obj, np.ndarray):
        # What numpy 1.x under Python 2 wrote: _reconstruct(ndarray, (0,), 'b'), then BUILD with
        # (1, shape, dtype, is_fortran, raw data as a str); the dtype is dtype('u1', 0, 1) + BUILD of its state.
        dtype = obj.dtype
        shape = b"(" + b"".join(_py2_int(n) for n in obj.shape) + b"t"
        dtype_state = (b"(" + _py2_int(3) + _py2_str(dtype.byteorder.encode()) + b"NNN"
                       + b"J" + struct.pack("<i", -1) + b"J" + struct.pack("<i", -1) + _py2_int(0) + b"t")
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _py2_int(0) + b"\x85" + _py2_str(b"b")
                + b"\x87R(" + _py2_int(1) + shape
                + b"cnumpy\ndtype\n" + _py2_str(dtype.str[1:].encode()) + _py2_int(0) + _py2_int(1) + b"\x87R"
                + dtype_state + b"b" + b"\x89" + _py2_str(np.ascontiguousarray(obj).tobytes()) + b"tb")
    raise TypeError(f"no Python 2 pickle for {type(obj).__name__}")


def py2_pickle(obj) -> bytes:
    """``obj`` (dicts, lists, str, int, bool, numeric numpy arrays) as Python 2's ``cPickle.dump(obj, f, 2)``
    wrote it: strings are 8-bit ``str``, so Python 3 reads them only with ``encoding='latin1'``."""
    return b"\x80\x02" + _py2(obj) + b"."


# --- CIFAR folders -------------------------------------------------------------------------------------------


def cifar_batch(labels: list[int], batch_label: str = "training batch 1 of 5") -> dict:
    """A CIFAR-10 batch dict: each image's red plane is its label, its blue plane 7."""
    data = np.zeros((len(labels), 3 * 32 * 32), dtype=np.uint8)
    for i, label in enumerate(labels):
        data[i, :1024] = label
        data[i, 2048:] = 7
    return {"batch_label": batch_label, "labels": list(labels), "data": data,
            "filenames": [f"image_{i}_{label}.png" for i, label in enumerate(labels)]}


def write_cifar10(root: Path, labels: dict[str, list[int]] | None = None, *, py2: bool = True,
                  replace: dict[str, bytes] | None = None) -> Path:
    """``root/cifar-10-batches-py`` with the five training batches, the test batch and ``batches.meta``.

    Args:
        root: The dataset's folder (a spec's ``data_prefix``).
        labels: Each batch's labels; default two images per batch.
        py2: Pickle as the published files are (Python 2, protocol 2); else with this Python and numpy.
        replace: Raw bytes to write instead of some files (a hostile batch).

    Returns:
        The ``cifar-10-batches-py`` folder.
    """
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    labels = labels or {name: [i % 10, (i + 3) % 10] for i, name in enumerate(CIFAR10_BATCHES)}
    files = {name: cifar_batch(labels[name], name) for name in CIFAR10_BATCHES}
    files["batches.meta"] = {"label_names": CIFAR10_CLASSES, "num_cases_per_batch": 2, "num_vis": 3072}
    for name, obj in files.items():
        data = py2_pickle(obj) if py2 else pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        (folder / name).write_bytes((replace or {}).get(name, data))
    return folder


# --- hostile pickles -------------------------------------------------------------------------------------------


class PlantMarker:
    """Unpickles as ``open(marker, 'w')``: the file appearing proves the pickle ran code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


class ShellMarker:
    """Unpickles as ``os.system('touch <marker>')``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def hostile_batch(marker: Path, protocol: int = 2) -> bytes:
    """A CIFAR batch whose ``data`` key, when unpickled, runs ``os.system('touch <marker>')``."""
    batch = cifar_batch([1, 2])
    batch["data"] = ShellMarker(marker)
    return pickle.dumps(batch, protocol=protocol)
