"""``trainyard eval-metric SPEC RESULTS``: MMCls 0.25's ``tools/analysis_tools/eval_metric.py`` (seed 52.2.1):
score a results file of ``trainyard test --out`` again, with other ``--metrics`` or ``--metric-options``,
without running the model.

The results file must hold ``class_scores`` (``--out-items all`` or ``class_scores``); the ground truth comes
from the spec's ``data.test``, whose samples must be the ones that were tested, in the same order.
:func:`load_results` also serves ``analyze-results`` and ``confusion-matrix``.

    trainyard eval-metric demo.py results.pkl --metrics accuracy precision --metric-options topk=1,5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_parser", "build_test_dataset", "class_scores", "eval_metric", "load_results"]


def load_results(path: str | Path) -> dict:
    """Read a results file of ``trainyard test --out`` (``.json``, ``.pkl``/``.pickle``, ``.yaml``/``.yml``).

    A pickle is read with the project's restricted unpickler (:mod:`workers.data.plain_data`): arrays,
    lists, dicts, strings and numbers only, never code.

    Raises:
        FileNotFoundError: no such file.
        ValueError: another suffix, or a file that is not a dict of results.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        results = json.loads(path.read_text())
    elif suffix in (".pkl", ".pickle"):
        from workers.data.plain_data import read

        results = read(path, name=str(path))
    elif suffix in (".yaml", ".yml"):
        import yaml

        results = yaml.safe_load(path.read_text())
    else:
        raise ValueError(f"a results file ends in .json, .pkl or .yaml, got {path.name!r}")
    if not isinstance(results, dict):
        raise ValueError(f"{path} holds a {type(results).__name__}, not the dict `trainyard test --out` writes")
    return results


def class_scores(results: dict, path: str | Path = "the results file"):
    """``results['class_scores']`` as an ``(N, C)`` float array.

    Raises:
        KeyError: the file has no ``class_scores``, with the fix.
    """
    import numpy as np

    if "class_scores" not in results:
        raise KeyError(f"{path} has no 'class_scores' (it holds {', '.join(sorted(results)) or 'nothing'}); "
                       "write it with `trainyard test ... --out FILE --out-items all` (or class_scores)")
    scores = np.asarray(results["class_scores"], dtype=np.float32)
    if scores.ndim != 2:
        raise ValueError(f"{path}: class_scores must be one row of scores per sample, got shape {scores.shape}")
    return scores


def build_test_dataset(spec: dict, num_results: int, data_root: str | Path | None = None,
                       phase: str = "test"):
    """The spec's ``data.<phase>`` in test mode, checked to have as many samples as the results.

    Raises:
        KeyError: the spec has no ``data.<phase>``.
        ValueError: the dataset and the results differ in length (another split or dataset was tested).
    """
    from workers.data import build_dataset

    cfg = (spec.get("data") or {}).get(phase)
    if cfg is None:
        raise KeyError(f"the spec has no data.{phase}")
    dataset = build_dataset(cfg, {"test_mode": True}, data_root=data_root)
    if len(dataset) != num_results:
        raise ValueError(f"the results hold {num_results} samples but data.{phase} has {len(dataset)}: were they "
                         "written by `trainyard test` on this spec's data (and --data-root)?")
    return dataset


def eval_metric(spec: dict, results: dict, metrics: list[str], metric_options: dict | None = None,
                data_root: str | Path | None = None) -> dict:
    """Score the results' ``class_scores`` with the spec's test dataset's ``evaluate``.

    Returns:
        ``{metric name: value}`` as ``trainyard test`` prints them (arrays for per-class values).
    """
    scores = class_scores(results)
    dataset = build_test_dataset(spec, len(scores), data_root)
    return dataset.evaluate(scores, metric=metrics, metric_options=metric_options)


def _run(args: argparse.Namespace) -> int:
    from workers.cli import _load_spec, _metric_options
    from workers.tools.test import dump_results

    spec = _load_spec(args.spec, args.cfg_options)
    results = load_results(args.results)
    scored = eval_metric(spec, results, args.metrics, _metric_options(args.metric_options) or None,
                         data_root=args.data_root)
    for key, value in scored.items():  # trainyard test's print-out
        shown = [round(v, 2) for v in value.tolist()] if hasattr(value, "tolist") else round(float(value), 2)
        print(f"{key} : {shown}")
    if args.out:
        print(f"writing metrics to {dump_results(scored, args.out)}", file=sys.stderr)
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """``trainyard eval-metric SPEC RESULTS --metrics ... --metric-options ...``."""
    parser = sub.add_parser("eval-metric", help="score a `trainyard test --out` results file again, without "
                                                "the model (MMCls eval_metric.py)")
    parser.add_argument("spec", help="the spec file that was tested (its data.test gives the labels)")
    parser.add_argument("results", help="the results file (.json, .pkl or .yaml) holding class_scores")
    parser.add_argument("--metrics", nargs="+", required=True,
                        help="e.g. accuracy precision recall f1_score support")
    parser.add_argument("--metric-options", nargs="+", metavar="KEY=VALUE",
                        help="e.g. topk=1,5 thrs=0.5 average_mode=none")
    parser.add_argument("--out", help="also write the metrics to FILE.json, .pkl or .yaml")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    parser.add_argument("--data-root", help="folder relative data paths are resolved against (default: .)")
    parser.set_defaults(func=_run)
    return parser
