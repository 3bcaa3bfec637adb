"""Files in the published datasets' own formats, for the dataset readers' tests: CIFAR batches (pickled by
this Python), MNIST's IDX files, Pascal VOC annotations; and ``LOAD``, the pipeline that only reads them."""
from __future__ import annotations

import gzip
import pickle

import numpy as np

LOAD = [{"type": "LoadImageFromFile"}, {"type": "Collect", "keys": ["img", "gt_label"]}]


def write_cifar(folder, batches: dict[str, list[int]], meta_name: str, meta: dict, label_key: str):
    """CIFAR-style batches in ``folder``: each image a flat red plane of its label, blue 7; and the meta file."""
    folder.mkdir(parents=True)
    for name, labels in batches.items():
        data = np.zeros((len(labels), 3 * 32 * 32), dtype=np.uint8)
        for i, label in enumerate(labels):
            data[i, :1024] = label  # red plane
            data[i, 2048:] = 7  # blue plane
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, label_key: labels, "filenames": [f"{i}.png" for i in labels]}, f)
    with open(folder / meta_name, "wb") as f:
        pickle.dump(meta, f)


def write_idx(path, array: np.ndarray, gz: bool):
    """``array`` as an MNIST IDX file of unsigned bytes (``<path>.gz`` when ``gz``)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def voc_xml(objects: list[tuple[str, int]]) -> str:
    """A VOC annotation with one object per ``(class name, difficult)``."""
    body = "".join(f"<object><name>{name}</name><pose>Left</pose><truncated>0</truncated>"
                   f"<difficult>{difficult}</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
                   f"<ymax>5</ymax></bndbox></object>" for name, difficult in objects)
    return f"<annotation><folder>VOC2007</folder><filename>x.jpg</filename>{body}</annotation>"
