"""``trainyard vis-pipeline SPEC``: MMCls 0.25's ``tools/visualizations/vis_pipeline.py`` (seed 51.1): pictures
of a split's images before, after and through the spec's data pipeline, run by the project's transforms
(``workers/data/transforms``), so what is shown is what training sees.

Modes (``--mode``): ``original`` (the image as loaded), ``transformed`` (after the pipeline, the
``--skip-type`` steps left out: by default the formatting and ``Normalize`` steps, which only change the
layout and the range), ``concat`` (the two side by side, the default) and ``pipeline`` (the image after every
step, each panel titled with its step). One ``<image name>_<mode>.png`` per image goes to ``--output-dir``;
``--show`` opens each in a window instead (or as well).

    trainyard vis-pipeline demo.py --phase train --mode pipeline --number 5 --output-dir vis --adaptive
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from pathlib import Path

import numpy as np

__all__ = ["MODES", "SKIP_TYPES", "add_parser", "adaptive_resize", "build_steps", "compose_picture", "pipeline_images",
           "to_display", "vis_pipeline"]

MODES = ("original", "transformed", "concat", "pipeline")
SKIP_TYPES = ("ToTensor", "Normalize", "ImageToTensor", "Collect")
_TITLE_HEIGHT = 22


def to_display(img) -> np.ndarray | None:
    """An image of the pipeline (``HxW``/``HxWxC`` array, a ``CxHxW`` tensor, float or uint8) as ``HxWx3``
    uint8 BGR; ``None`` for what is not an image. Float images outside 0..255 are stretched to it."""
    if hasattr(img, "detach"):  # a tensor: CHW
        img = img.detach().cpu().numpy()
        if img.ndim == 3:
            img = img.transpose(1, 2, 0)
    if hasattr(img, "convert") and hasattr(img, "size"):  # a PIL image (ToPIL): RGB
        img = np.asarray(img.convert("RGB"))[..., ::-1]
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)) or img.size == 0:
        return None
    if img.dtype != np.uint8:
        img = img.astype(np.float32)
        lo, hi = float(img.min()), float(img.max())
        if lo < 0 or hi > 255:
            img = (img - lo) / max(hi - lo, 1e-6) * 255
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def adaptive_resize(img: np.ndarray, min_edge: int = 200, max_edge: int = 1000) -> np.ndarray:
    """The seed's ``--adaptive``: enlarge so that the short side is ``min_edge`` when a side is under it,
    shrink so that the long side is ``max_edge`` when a side is over it (aspect ratio kept)."""
    import cv2

    h, w = img.shape[:2]
    if min(h, w) < min_edge:
        scale = min_edge / min(h, w)
    elif max(h, w) > max_edge:
        scale = max_edge / max(h, w)
    else:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA)


def build_steps(steps: list[dict]) -> list[tuple[str, object]]:
    """``[(type name, transform), ...]`` built from transform configs by the project's registry."""
    from workers.registry import TRANSFORMS

    return [(cfg["type"], TRANSFORMS.build(copy.deepcopy(cfg))) for cfg in steps]


def pipeline_images(info: dict, steps: list[tuple[str, object]]) -> list[tuple[str, np.ndarray]] | None:
    """Run one sample through ``steps``: ``[(step name, image after it), ...]`` for every step that leaves an
    image in ``results['img']``; ``None`` when a step drops the sample.

    Args:
        info: A dataset annotation (``img_prefix``, ``img_info``, ``gt_label``).
        steps: From :func:`build_steps` (the first normally ``LoadImageFromFile``).
    """
    results = copy.deepcopy(info)
    shown = []
    for name, transform in steps:
        results = transform(results)
        if results is None:
            return None
        img = to_display(results.get("img")) if "img" in results else None
        if img is not None:
            shown.append((name, img))
    return shown


def _titled(img: np.ndarray, title: str) -> np.ndarray:
    import cv2

    bar = np.full((_TITLE_HEIGHT, img.shape[1], 3), 255, np.uint8)
    scale = 0.45  # shrunk (to 0.3) to fit a narrow panel, then cut
    while scale > 0.3 and cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > img.shape[1] - 4:
        scale -= 0.05
    while len(title) > 1 and cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > img.shape[1] - 4:
        title = title[:-1]
    cv2.putText(bar, title, (2, 15), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], axis=0)


def _row(panels: list[np.ndarray], gap: int = 6) -> np.ndarray:
    height = max(p.shape[0] for p in panels)
    padded = []
    for i, p in enumerate(panels):
        canvas = np.full((height, p.shape[1] + (gap if i < len(panels) - 1 else 0), 3), 255, np.uint8)
        canvas[: p.shape[0], : p.shape[1]] = p
        padded.append(canvas)
    return np.concatenate(padded, axis=1)


def _grid(panels: list[np.ndarray], columns: int = 4, gap: int = 6) -> np.ndarray:
    rows = [_row(panels[i:i + columns], gap) for i in range(0, len(panels), columns)]
    width = max(r.shape[1] for r in rows)
    out = []
    for i, r in enumerate(rows):
        canvas = np.full((r.shape[0] + (gap if i < len(rows) - 1 else 0), width, 3), 255, np.uint8)
        canvas[: r.shape[0], : r.shape[1]] = r
        out.append(canvas)
    return np.concatenate(out, axis=0)


def compose_picture(shown: list[tuple[str, np.ndarray]], mode: str, *, adaptive: bool = False,
                    min_edge: int = 200, max_edge: int = 1000, bgr2rgb: bool = False) -> np.ndarray:
    """The picture of one sample for ``mode`` from :func:`pipeline_images`' output."""
    if mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    size = (lambda im: adaptive_resize(im, min_edge, max_edge)) if adaptive else (lambda im: im)
    original, transformed = shown[0][1], shown[-1][1]
    if mode == "original":
        picture = size(original)
    elif mode == "transformed":
        picture = size(transformed)
    elif mode == "concat":
        picture = _row([_titled(size(original), "original"), _titled(size(transformed), "transformed")])
    else:
        picture = _grid([_titled(size(img), f"{i}. {name}") for i, (name, img) in enumerate(shown)])
    return picture[..., ::-1].copy() if bgr2rgb else picture


def _out_name(info: dict, index: int, mode: str) -> str:
    name = (info.get("img_info") or {}).get("filename") or f"{index:06d}"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(name)[0]).strip("_") or f"{index:06d}"
    return f"{stem}_{mode}.png"


def vis_pipeline(spec: dict, *, output_dir: str | Path | None = None, phase: str = "train",
                 number: int | None = None, skip_type: list[str] | tuple[str, ...] = SKIP_TYPES,
                 mode: str = "concat", show: bool = False, adaptive: bool = False, min_edge_length: int = 200,
                 max_edge_length: int = 1000, bgr2rgb: bool = False, window_size: str = "12*7",
                 data_root: str | Path | None = None, progress: bool = False) -> list[Path]:
    """Draw ``number`` samples of ``data.<phase>`` (all by default) in ``mode``; return the files written.

    Raises:
        KeyError: no ``data.<phase>``; ValueError: a bad mode, or a pipeline without ``LoadImageFromFile``.
    """
    import cv2
    from tqdm import tqdm

    from workers.data import build_dataset

    if mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    cfg = (spec.get("data") or {}).get(phase)
    if cfg is None:
        raise KeyError(f"the spec has no data.{phase}")
    while isinstance(cfg, dict) and "pipeline" not in cfg and isinstance(cfg.get("dataset"), dict):
        cfg = cfg["dataset"]  # RepeatDataset & co: the inner dataset's pipeline
    if not isinstance(cfg, dict) or "pipeline" not in cfg:
        raise ValueError(f"data.{phase} has no pipeline to show")
    steps = [dict(s) for s in cfg["pipeline"] if s.get("type") not in set(skip_type)]
    if not steps or steps[0].get("type") != "LoadImageFromFile":
        raise ValueError("this tool shows pipelines that start with LoadImageFromFile")
    built = build_steps(steps)
    dataset = build_dataset({**cfg, "pipeline": []}, {"test_mode": phase != "train"}, data_root=data_root)
    count = len(dataset) if number is None else min(max(number, 0), len(dataset))
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    if show:
        try:
            width, height = (float(v) for v in window_size.split("*"))
        except ValueError:
            raise ValueError(f"--window-size takes 'W*H', e.g. 12*7, got {window_size!r}") from None
    written = []
    for index in tqdm(range(count), desc=f"vis {phase}", disable=not progress, unit="img"):
        info = dataset.data_infos[index]
        shown = pipeline_images(info, built)
        if not shown:
            continue
        picture = compose_picture(shown, mode, adaptive=adaptive, min_edge=min_edge_length,
                                  max_edge=max_edge_length, bgr2rgb=bgr2rgb)
        if output_dir is not None:
            path = Path(output_dir) / _out_name(info, index, mode)
            cv2.imwrite(str(path), picture)
            written.append(path)
        if show:
            import matplotlib.pyplot as plt

            plt.figure(figsize=(width, height))
            plt.imshow(picture[..., ::-1])
            plt.axis("off")
            plt.show()
            plt.close()
    return written


def _run(args: argparse.Namespace) -> int:
    from workers.cli import _load_spec

    spec = _load_spec(args.spec, args.cfg_options)
    written = vis_pipeline(spec, output_dir=args.output_dir, phase=args.phase, number=args.number,
                           skip_type=args.skip_type, mode=args.mode, show=args.show, adaptive=args.adaptive,
                           min_edge_length=args.min_edge_length, max_edge_length=args.max_edge_length,
                           bgr2rgb=args.bgr2rgb, window_size=args.window_size, data_root=args.data_root,
                           progress=sys.stderr.isatty())
    if args.output_dir:
        print(f"{len(written)} pictures ({args.mode}) saved to {args.output_dir}")
    elif not args.show:
        print("nothing saved: give --output-dir (or --show)", file=sys.stderr)
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """``trainyard vis-pipeline SPEC ...`` (flags of the seed's vis_pipeline.py)."""
    parser = sub.add_parser("vis-pipeline", help="pictures of images before, after and through the data "
                                                 "pipeline (MMCls vis_pipeline.py)")
    parser.add_argument("spec", help="the spec file")
    parser.add_argument("--output-dir", help="save the pictures here (default: save nothing)")
    parser.add_argument("--phase", default="train", choices=("train", "val", "test"),
                        help="the split (default: train)")
    parser.add_argument("--number", type=int, help="how many images (default: all of the split)")
    parser.add_argument("--skip-type", nargs="+", default=list(SKIP_TYPES), metavar="TYPE",
                        help=f"steps left out (default: {' '.join(SKIP_TYPES)})")
    parser.add_argument("--mode", default="concat", choices=MODES,
                        help="original, transformed, concat (both, the default) or pipeline (every step)")
    parser.add_argument("--show", action="store_true", help="show each picture in a window")
    parser.add_argument("--adaptive", action="store_true", help="resize small and large images for viewing")
    parser.add_argument("--min-edge-length", type=int, default=200, help="with --adaptive (default: 200)")
    parser.add_argument("--max-edge-length", type=int, default=1000, help="with --adaptive (default: 1000)")
    parser.add_argument("--bgr2rgb", action="store_true", help="flip the colour channel order")
    parser.add_argument("--window-size", default="12*7", help="--show window 'W*H' in inches (default: 12*7)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    parser.add_argument("--data-root", help="folder relative data paths are resolved against (default: .)")
    parser.set_defaults(func=_run)
    return parser
