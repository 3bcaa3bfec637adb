"""``trainyard confusion-matrix SPEC RESULTS``: the confusion matrix of a ``trainyard test --out`` results file
as a picture and as text (MMCls 0.25 computes it, ``calculate_confusion_matrix``, but has no tool to show it;
the flags follow MMPretrain's ``tools/analysis_tools/confusion_matrix.py``).

Rows are the ground truth (the spec's ``data.test`` labels), columns the predictions (``pred_label``, else the
arg-max of ``class_scores``). ``--normalize`` divides each row by its count, so the diagonal is each class's
recall.

    trainyard confusion-matrix demo.py results.json --normalize --out confusion.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

__all__ = ["add_parser", "confusion_matrix", "format_matrix", "plot_confusion_matrix", "predicted_labels"]

FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def predicted_labels(results: dict, path: str | Path = "the results file") -> np.ndarray:
    """``pred_label`` of the results, else the arg-max of their ``class_scores``."""
    if "pred_label" in results:
        return np.asarray(results["pred_label"], dtype=np.int64)
    from workers.tools.eval_metric import class_scores

    if "class_scores" not in results:
        raise KeyError(f"{path} has neither 'pred_label' nor 'class_scores'; write it with `trainyard test ... "
                       "--out FILE` (--out-items all, pred_label or class_scores)")
    return class_scores(results, path).argmax(axis=1)


def confusion_matrix(gt_labels, pred_labels, num_classes: int, normalize: bool = False) -> np.ndarray:
    """``(C, C)`` counts of (ground truth row, prediction column); with ``normalize`` each row sums to 1
    (a class without samples stays 0)."""
    gt = np.asarray(gt_labels, dtype=np.int64)
    pred = np.asarray(pred_labels, dtype=np.int64)
    if gt.shape != pred.shape:
        raise ValueError(f"{len(gt)} labels but {len(pred)} predictions")
    for name, labels in (("label", gt), ("prediction", pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"a {name} lies outside the {num_classes} classes")
    matrix = np.bincount(gt * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)
    if not normalize:
        return matrix
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=np.float64), where=totals > 0)


def format_matrix(matrix: np.ndarray, classes: list[str]) -> str:
    """The matrix as aligned text: a header of predicted classes, one row per ground-truth class."""
    cells = [[f"{v:.2f}" if matrix.dtype.kind == "f" else str(v) for v in row] for row in matrix]
    width = max([len(c) for c in classes] + [len(c) for row in cells for c in row] + [4])
    lines = ["gt \\ pred".ljust(width) + "  " + "  ".join(c.rjust(width) for c in classes)]
    lines += [classes[i].ljust(width) + "  " + "  ".join(c.rjust(width) for c in row) for i, row in enumerate(cells)]
    return "\n".join(lines)


def plot_confusion_matrix(matrix: np.ndarray, classes: list[str], *, out: str | Path | None = None,
                          show: bool = False, include_values: bool = True, cmap: str = "viridis",
                          title: str | None = None):
    """Draw the matrix (ground truth down, predictions across, a colour bar, values in the cells).

    Args:
        matrix: From :func:`confusion_matrix`.
        classes: Class names, in label order.
        out: Save the picture here (``.png``, ``.pdf``, ``.svg``, ``.jpg``).
        show: Show it in a window.
        include_values: Write each cell's value.
        cmap: A matplotlib colour map.
        title: Default: "Confusion Matrix" ("Normalized Confusion Matrix" for fractions).

    Returns:
        The matplotlib figure (closed when saved and not shown).
    """
    import matplotlib

    if out is not None and Path(out).suffix.lower() not in FORMATS:
        raise ValueError(f"--out must end in {', '.join(FORMATS)}, got {Path(out).name!r}")
    if not show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    normalized = matrix.dtype.kind == "f"
    n = len(classes)
    side = max(6.0, 0.5 * n + 2)
    figure, ax = plt.subplots(figsize=(side, side * 0.85))
    image = ax.imshow(matrix, cmap=cmap, vmin=0, vmax=1 if normalized else None)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title or ("Normalized Confusion Matrix" if normalized else "Confusion Matrix"))
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("Ground truth label")
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    if include_values:
        limit = (matrix.max() or 1) / 2
        for i in range(n):
            for j in range(n):
                value = matrix[i, j]
                ax.text(j, i, f"{value:.2f}" if normalized else str(value), ha="center", va="center",
                        color="black" if value > limit else "white", fontsize=8)
    figure.tight_layout()
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out)
    if show:
        plt.show()
    elif out is not None:
        plt.close(figure)
    return figure


def _run(args: argparse.Namespace) -> int:
    from workers.cli import _load_spec
    from workers.tools.eval_metric import build_test_dataset, load_results

    spec = _load_spec(args.spec, args.cfg_options)
    results = load_results(args.results)
    pred = predicted_labels(results, args.results)
    dataset = build_test_dataset(spec, len(pred), args.data_root)
    classes = list(dataset.CLASSES) if dataset.CLASSES is not None else None
    if classes is None:
        num = int(max(dataset.get_gt_labels().max(initial=-1), pred.max(initial=-1))) + 1
        classes = [str(i) for i in range(num)]
    matrix = confusion_matrix(dataset.get_gt_labels(), pred, len(classes), normalize=args.normalize)
    print(format_matrix(matrix, classes))
    if args.save_matrix:
        Path(args.save_matrix).write_text(json.dumps({"classes": classes, "normalized": args.normalize,
                                                      "matrix": matrix.tolist()}))
        print(f"matrix saved to {args.save_matrix}")
    if args.out or args.show:
        plot_confusion_matrix(matrix, classes, out=args.out, show=args.show, include_values=args.include_values,
                              cmap=args.cmap)
        if args.out:
            print(f"confusion matrix saved to {args.out}")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """``trainyard confusion-matrix SPEC RESULTS [--normalize] [--out PIC] [--show]``."""
    parser = sub.add_parser("confusion-matrix", help="the confusion matrix of a `trainyard test --out` results "
                                                     "file, printed and plotted")
    parser.add_argument("spec", help="the spec file that was tested (its data.test gives the labels)")
    parser.add_argument("results", help="the results file (.json, .pkl or .yaml): pred_label or class_scores")
    parser.add_argument("--normalize", action="store_true", help="each row as fractions of its class's samples")
    parser.add_argument("--out", help="save the plot (.png, .pdf, .svg, .jpg)")
    parser.add_argument("--show", action="store_true", help="show the plot in a window")
    parser.add_argument("--save-matrix", metavar="FILE.json", help="write classes and matrix as JSON")
    parser.add_argument("--include-values", action=argparse.BooleanOptionalAction, default=True,
                        help="write each cell's value on the plot (default: on)")
    parser.add_argument("--cmap", default="viridis", help="matplotlib colour map (default: viridis)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    parser.add_argument("--data-root", help="folder relative data paths are resolved against (default: .)")
    parser.set_defaults(func=_run)
    return parser
