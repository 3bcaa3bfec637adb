"""``trainyard analyze-results SPEC RESULT --out-dir DIR --topk K``: MMCls 0.25's
``tools/analysis_tools/analyze_results.py`` (seed 52.2.2): the images of the most confident successful and
failed predictions, each with its score, predicted class and true class written on it.

Writes ``DIR/success/`` and ``DIR/fail/``: ``success.json`` / ``fail.json`` (``filename``, ``gt_label``,
``gt_class``, ``pred_score``, ``pred_label``, ``pred_class`` of each) and the annotated images, named
``<rank>_<image name>`` so that a folder lists them from the most confident down. The seed's manual promises
"the highest scores"; its 0.25 code sorted ascending and kept the lowest (fixed upstream later); this keeps
the highest. The results file needs ``pred_score``, ``pred_label`` and ``pred_class`` (``trainyard test --out
FILE``, ``--out-items all``); the labels come from the spec's ``data.test``.

    trainyard analyze-results demo.py results.pkl --out-dir results --topk 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["add_parser", "analyze_results", "draw_infos", "split_results"]

NEEDED = ("pred_score", "pred_label", "pred_class")


def draw_infos(img: np.ndarray, infos: dict, *, min_side: int = 224, text_color=(255, 255, 255)) -> np.ndarray:
    """The image with ``key: value`` lines written at its top left (mmcls ``imshow_infos``), enlarged first so
    that its short side is at least ``min_side`` pixels (nearest neighbour: a tiny image stays sharp).

    Args:
        img: ``HxW`` or ``HxWx3`` BGR uint8.
        infos: E.g. ``{'pred_score': 0.97, 'pred_class': '3', 'gt_class': '3'}``; floats shown with 2 decimals.
        min_side: Smallest short side of the result.
        text_color: BGR.

    Returns:
        A new ``HxWx3`` BGR uint8 image.
    """
    import cv2

    img = np.asarray(img)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    img = np.ascontiguousarray(img[..., :3]).astype(np.uint8, copy=False)
    scale = max(1.0, min_side / max(1, min(img.shape[:2])))
    if scale > 1:
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                         interpolation=cv2.INTER_NEAREST)
    else:
        img = img.copy()
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1
    y = 4
    for key, value in infos.items():
        text = f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}"
        (w, h), base = cv2.getTextSize(text, font, size, thick)
        cv2.rectangle(img, (2, y), (6 + w, y + h + base + 4), (0, 0, 0), -1)
        cv2.putText(img, text, (4, y + h + 2), font, size, text_color, thick, cv2.LINE_AA)
        y += h + base + 6
    return img


def _check_items(results: dict) -> None:
    missing = [k for k in NEEDED if k not in results]
    if missing:
        raise KeyError(f"the results file has no {', '.join(missing)}; write it with `trainyard test ... --out FILE "
                       "--out-items all`")


def split_results(results: dict, filenames: list[str], gt_labels, classes: list[str] | None,
                  topk: int = 20) -> tuple[list[dict], list[dict]]:
    """``(success, fail)``: the ``topk`` most confident right and wrong predictions, highest score first.

    Raises:
        KeyError: a needed item is missing from the results.
        ValueError: the results and the dataset differ in length.
    """
    _check_items(results)
    n = len(filenames)
    if any(len(results[k]) != n for k in NEEDED):
        raise ValueError(f"the results hold {len(results['pred_label'])} samples but data.test has {n}: were they "
                         "written by `trainyard test` on this spec's data?")
    rows = []
    for i in range(n):
        gt = int(gt_labels[i])
        rows.append({"filename": filenames[i], "gt_label": gt, "gt_class": classes[gt] if classes else str(gt),
                     "pred_score": float(results["pred_score"][i]), "pred_label": int(results["pred_label"][i]),
                     "pred_class": str(results["pred_class"][i])})
    rows.sort(key=lambda r: r["pred_score"], reverse=True)
    success = [r for r in rows if r["pred_label"] == r["gt_label"]][:topk]
    fail = [r for r in rows if r["pred_label"] != r["gt_label"]][:topk]
    return success, fail


def _save(out_dir: Path, name: str, rows: list[dict], progress: bool) -> None:
    import cv2
    from tqdm import tqdm

    from workers.data.transforms.loading import imread

    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(rows, indent=1))
    width = len(str(len(rows)))
    for rank, row in enumerate(tqdm(rows, desc=name, disable=not progress, leave=False), 1):
        shown = {k: row[k] for k in ("pred_score", "pred_class", "gt_class")}
        picture = draw_infos(imread(row["filename"]), shown)
        cv2.imwrite(str(folder / f"{rank:0{width}d}_{Path(row['filename']).stem}.png"), picture)


def analyze_results(spec: dict, results: dict, out_dir: str | Path, *, topk: int = 20,
                    data_root: str | Path | None = None, progress: bool = False) -> tuple[list[dict], list[dict]]:
    """Write the success and fail galleries of ``results`` under ``out_dir``; return their rows."""
    from workers.tools.eval_metric import build_test_dataset

    if topk < 1:
        raise ValueError(f"--topk must be 1 or more, got {topk}")
    _check_items(results)
    n = len(results["pred_label"])
    dataset = build_test_dataset(spec, n, data_root)
    filenames = [os.path.join(info["img_prefix"], info["img_info"]["filename"]) if info.get("img_prefix") is not None
                 else info["img_info"]["filename"] for info in dataset.data_infos]
    classes = list(dataset.CLASSES) if dataset.CLASSES is not None else None
    success, fail = split_results(results, filenames, dataset.get_gt_labels(), classes, topk)
    out_dir = Path(out_dir)
    _save(out_dir, "success", success, progress)
    _save(out_dir, "fail", fail, progress)
    return success, fail


def _run(args: argparse.Namespace) -> int:
    from workers.cli import _load_spec
    from workers.tools.eval_metric import load_results

    spec = _load_spec(args.spec, args.cfg_options)
    results = load_results(args.result)
    success, fail = analyze_results(spec, results, args.out_dir, topk=args.topk, data_root=args.data_root,
                                    progress=sys.stderr.isatty())
    print(f"{len(success)} successful and {len(fail)} failed predictions saved to {args.out_dir}/success and "
          f"{args.out_dir}/fail")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """``trainyard analyze-results SPEC RESULT --out-dir DIR [--topk K]``."""
    parser = sub.add_parser("analyze-results", help="images of the most confident right and wrong predictions "
                                                    "(MMCls analyze_results.py)")
    parser.add_argument("spec", help="the spec file that was tested (its data.test gives images and labels)")
    parser.add_argument("result", help="the results file of `trainyard test --out` (.json, .pkl or .yaml)")
    parser.add_argument("--out-dir", required=True, help="where success/ and fail/ are written")
    parser.add_argument("--topk", type=int, default=20, help="images kept of each (default: 20)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    parser.add_argument("--data-root", help="folder relative data paths are resolved against (default: .)")
    parser.set_defaults(func=_run)
    return parser
