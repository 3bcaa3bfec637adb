"""``trainyard verify-dataset SPEC``: MMCls 0.25's ``tools/misc/verify_dataset.py`` (seed 53.2): read every image
of a split of the spec's data, in parallel, and list the broken ones.

One image is checked by :func:`check_image`, the same function the web's dataset check
(``backend/experiments/datasets.py``) runs on its sample: Pillow reads the header, an image over
``TRAINYARD_MAX_IMAGE_PIXELS`` is named "too large" without being decoded (a decompression bomb), the
others are decoded in full (``Image.verify()`` alone decodes nothing). This module imports neither torch nor
OpenCV, so the web process stays small.

The broken files' paths go to ``--out-path`` (default ``brokenfiles.log``), one a line in dataset order, as the
seed writes them; the file is removed when nothing is broken.

    trainyard verify-dataset demo.py --phase val --num-process 4 --out-path broken.log
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ImageProblem", "add_parser", "check_image", "check_images", "dataset_image_paths", "verify_dataset"]

# the workers' default (workers/data/transforms/loading.py DEFAULT_MAX_IMAGE_PIXELS), written here so that this
# module imports nothing heavy; a test keeps the two equal
DEFAULT_MAX_IMAGE_PIXELS = 64 * 1024 ** 2


@dataclass(frozen=True)
class ImageProblem:
    """Why one image cannot be trained on.

    Attributes:
        path: The file.
        kind: ``'missing'``, ``'unreadable'`` or ``'too_large'``.
        detail: A sentence for people.
        size: ``(width, height)`` from the header when it was read (``too_large``), else ``None``.
    """

    path: str
    kind: str
    detail: str
    size: tuple[int, int] | None = None


def _limit(max_pixels: int | None) -> int:
    if max_pixels is not None:
        return max_pixels
    text = os.environ.get("TRAINYARD_MAX_IMAGE_PIXELS", "").strip()
    return int(text) if text else DEFAULT_MAX_IMAGE_PIXELS


def check_image(path: str | os.PathLike, max_pixels: int | None = None) -> ImageProblem | None:
    """Decode one image; ``None`` when it is fine.

    Args:
        path: The image file.
        max_pixels: The most pixels allowed (default: ``$TRAINYARD_MAX_IMAGE_PIXELS``, else 64 Mi).
    """
    from PIL import Image

    limit = _limit(max_pixels)
    name = os.fspath(path)
    try:
        with Image.open(name) as im:
            width, height = im.size
            if width * height > limit:
                return ImageProblem(name, "too_large", f"{width}x{height} = {width * height} pixels, over the limit "
                                    f"of {limit} (TRAINYARD_MAX_IMAGE_PIXELS)", (width, height))
            im.load()
    except FileNotFoundError:
        return ImageProblem(name, "missing", "no such file")
    except Image.DecompressionBombError as error:
        return ImageProblem(name, "too_large", str(error))
    except Exception as error:  # any decoder failure is a broken image, whatever its type
        return ImageProblem(name, "unreadable", f"{type(error).__name__}: {error}")
    return None


def _check_one(item: tuple[str, int | None]) -> ImageProblem | None:
    return check_image(*item)


def check_images(paths: Iterable[str | os.PathLike], *, num_process: int = 1, max_pixels: int | None = None,
                 progress: bool = False, desc: str = "verify") -> list[ImageProblem]:
    """:func:`check_image` on every path, in ``num_process`` processes; the problems in the paths' order.

    Args:
        paths: Image files.
        num_process: Worker processes (1: this process).
        max_pixels: As for :func:`check_image` (resolved here, so workers use the caller's limit).
        progress: A tqdm bar.
        desc: The bar's label.
    """
    from tqdm import tqdm

    items = [(os.fspath(p), _limit(max_pixels)) for p in paths]
    if num_process < 1:
        raise ValueError(f"--num-process must be 1 or more, got {num_process}")
    bar = tqdm(total=len(items), desc=desc, disable=not progress, unit="img")
    try:
        if num_process == 1 or len(items) < 2:
            found = []
            for item in items:
                found.append(_check_one(item))
                bar.update()
        else:
            import multiprocessing

            # the seed's chunk size (Pool.map's default): a few chunks per process
            chunksize, extra = divmod(len(items), num_process * 8)
            chunksize += bool(extra)
            found = []
            with multiprocessing.get_context("spawn").Pool(num_process) as pool:
                for problem in pool.imap(_check_one, items, chunksize=max(1, chunksize)):
                    found.append(problem)
                    bar.update()
    finally:
        bar.close()
    return [p for p in found if p is not None]


def dataset_image_paths(spec: dict, phase: str = "train", data_root: str | Path | None = None) -> list[str]:
    """Every image file ``data.<phase>`` names (``img_prefix`` joined to each file name), in dataset order;
    the pipeline is not run. Wrappers (``RepeatDataset``, ``ConcatDataset``, a list) are walked once each."""
    from workers.data import build_dataset

    cfg = (spec.get("data") or {}).get(phase)
    if cfg is None:
        raise KeyError(f"the spec has no data.{phase}")

    def without_pipeline(node):
        if isinstance(node, (list, tuple)):
            return [without_pipeline(c) for c in node]
        node = dict(node)
        if "pipeline" in node:
            node["pipeline"] = []
        if isinstance(node.get("dataset"), dict):
            return without_pipeline(node["dataset"])  # RepeatDataset & co: each image once
        if isinstance(node.get("datasets"), (list, tuple)):
            return [without_pipeline(c) for c in node["datasets"]]
        return node

    dataset = build_dataset(without_pipeline(cfg), {"test_mode": phase != "train"}, data_root=data_root)
    parts = getattr(dataset, "datasets", None) or [dataset]
    paths, seen = [], set()
    for part in parts:
        for info in part.data_infos:
            name = info["img_info"]["filename"]
            path = os.path.join(info["img_prefix"], name) if info.get("img_prefix") is not None else name
            if path not in seen:
                seen.add(path)
                paths.append(path)
    return paths


def verify_dataset(spec: dict, out_path: str | Path = "brokenfiles.log", *, phase: str = "train",
                   num_process: int = 1, data_root: str | Path | None = None,
                   progress: bool = False) -> list[ImageProblem]:
    """Check every image of ``data.<phase>``; write the broken ones' paths to ``out_path`` (removed when none).

    Returns:
        The problems, in dataset order.
    """
    out_path = Path(out_path)
    if not out_path.parent.exists():
        raise FileNotFoundError(f"--out-path's folder does not exist: {out_path.parent}")
    paths = dataset_image_paths(spec, phase, data_root)
    problems = check_images(paths, num_process=num_process, progress=progress, desc=f"verify {phase}")
    if problems:
        out_path.write_text("".join(f"{p.path}\n" for p in problems))
    elif out_path.exists():
        out_path.unlink()
    return problems


def _run(args: argparse.Namespace) -> int:
    from workers.cli import _load_spec

    spec = _load_spec(args.spec, args.cfg_options)
    problems = verify_dataset(spec, args.out_path, phase=args.phase, num_process=args.num_process,
                              data_root=args.data_root, progress=sys.stderr.isatty())
    for problem in problems:
        print(f"{problem.path} cannot be read correctly ({problem.kind}: {problem.detail}), please check it.",
              file=sys.stderr)
    if problems:
        print(f"{len(problems)} broken files found, name list save in file:{args.out_path}")
        return 1
    print("There is no broken file found.")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """``trainyard verify-dataset SPEC [--out-path F] [--phase P] [--num-process N]``."""
    parser = sub.add_parser("verify-dataset", help="decode every image of a split and list the broken ones "
                                                   "(MMCls verify_dataset.py)")
    parser.add_argument("spec", help="the spec file")
    parser.add_argument("--out-path", default="brokenfiles.log",
                        help="the list of broken files (default: brokenfiles.log; removed when none)")
    parser.add_argument("--phase", default="train", choices=("train", "val", "test"),
                        help="the split to check (default: train)")
    parser.add_argument("--num-process", type=int, default=1, help="processes to decode with (default: 1)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    parser.add_argument("--data-root", help="folder relative data paths are resolved against (default: .)")
    parser.set_defaults(func=_run)
    return parser
