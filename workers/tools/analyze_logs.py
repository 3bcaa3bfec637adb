"""``trainyard analyze-logs plot-curve|cal-train-time``: MMCls 0.25's ``tools/analysis_tools/analyze_logs.py``
(seed 52.1) on the ``<timestamp>.log.json`` files the engine writes (``workers/engine/logger.py``: one JSON
record a line, ``mode`` 'train' every ``log_config.interval`` iterations and 'val' after each evaluation).

``plot-curve`` draws several runs and keys on one figure: a key of the training records (``loss``, ``lr``,
``time``) against the iteration, a metric of the evaluation records (``accuracy_top-1``, ``f1_score``)
against the epoch (against the iteration for an IterBasedRunner). ``cal-train-time`` prints the seed's four
lines per log.

    trainyard analyze-logs plot-curve a.log.json b.log.json --keys accuracy_top-1 --legend a b --out top1.svg
    trainyard analyze-logs cal-train-time work_dirs/demo/20261206_101010.log.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LogRun", "add_parser", "cal_train_time", "curve", "default_legend", "load_json_log", "plot_curve"]

# Metric names the seed reads from the evaluation records (analyze_logs.py's TEST_METRICS): a key naming one
# of them is a 'val' curve even where a training record holds a key of that name too.
TEST_METRICS = ("precision", "recall", "f1_score", "support", "mAP", "CP", "CR", "CF1", "OP", "OR", "OF1",
                "accuracy")
FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


@dataclass
class LogRun:
    """One ``.log.json`` file read back: its training and evaluation records, in order.

    Attributes:
        path: The file.
        train: Records with ``mode == 'train'``.
        val: Records with ``mode == 'val'``.
    """

    path: Path
    train: list[dict] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)

    @property
    def iter_based(self) -> bool:
        """An IterBasedRunner's log: ``iter`` is the global iteration (it never restarts at an epoch), and its
        evaluations carry the global iteration too (an EpochBasedRunner's carry the val loader's length)."""
        iters = [r["iter"] for r in self.train]
        if not iters or any(b <= a for a, b in zip(iters, iters[1:], strict=False)):
            return False
        if len({r["epoch"] for r in self.train}) > 1:
            return True
        return bool(self.val) and self.val[-1]["iter"] >= iters[-1]

    def epoch_len(self) -> int:
        """Iterations an epoch, as the seed reads it: the last logged iteration of the first epoch."""
        first = self.train[0]["epoch"]
        return max(r["iter"] for r in self.train if r["epoch"] == first)


def load_json_log(path: str | Path) -> LogRun:
    """Read a ``.log.json``; lines without ``epoch`` (none are written today; mmcv's first line of
    ``env_info``) are skipped, as the seed does.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line that is not JSON (with its number).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"log not found: {path}")
    run = LogRun(path)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not a JSON line ({error.msg}); is it a .log.json file?") from None
        if not isinstance(record, dict) or "epoch" not in record:
            continue
        (run.val if record.get("mode") == "val" else run.train).append(record)
    return run


def _is_val_key(run: LogRun, key: str) -> bool:
    in_train = any(key in r for r in run.train)
    in_val = any(key in r for r in run.val)
    if in_val and (not in_train or any(m in key for m in TEST_METRICS)):
        return True
    return False


def curve(run: LogRun, key: str, by_iter: bool = False) -> tuple[list[float], list[float], str]:
    """``(xs, ys, x label)`` of ``key`` in ``run``.

    A training key is plotted against the global iteration (``iter + (epoch - 1) * epoch_len`` for an
    EpochBasedRunner), an evaluation metric against the epoch (the iteration for an IterBasedRunner), or with
    ``by_iter`` against the iteration that ended its epoch (``epoch * epoch_len``), so that it shares an axis
    with training keys.

    Raises:
        KeyError: ``key`` is in none of the records; the message lists the keys there are.
    """
    if _is_val_key(run, key):
        points = [r for r in run.val if key in r]
        if run.iter_based:
            return [r["iter"] for r in points], [r[key] for r in points], "iter"
        if by_iter and run.train:
            epoch_len = run.epoch_len()
            return [r["epoch"] * epoch_len for r in points], [r[key] for r in points], "iter"
        return [r["epoch"] for r in points], [r[key] for r in points], "epoch"
    points = [r for r in run.train if key in r]
    if not points:
        known = sorted({k for r in run.train + run.val for k in r} - {"mode", "epoch", "iter"})
        raise KeyError(f"{run.path} has no {key!r} in its records; its keys: {', '.join(known) or 'none'}")
    if run.iter_based:
        return [r["iter"] for r in points], [r[key] for r in points], "iter"
    epoch_len = run.epoch_len()
    return [r["iter"] + (r["epoch"] - 1) * epoch_len for r in points], [r[key] for r in points], "iter"


def default_legend(paths: list[str | Path], keys: list[str]) -> list[str]:
    """The seed's legend: ``<log name without .log.json>_<key>`` for every log and key."""
    names = []
    for path in paths:
        name = Path(path).name
        for suffix in (".json", ".log"):
            name = name.removesuffix(suffix)
        names += [f"{name}_{key}" for key in keys]
    return names


def _apply_style(style: str | None) -> None:
    """The seed's ``--style`` is a seaborn style; without seaborn, matplotlib's copy of it."""
    import matplotlib.pyplot as plt

    if not style:
        return
    try:
        import seaborn as sns
    except ImportError:
        sns = None
    if sns is not None:
        sns.set_style(style)
        return
    for name in (style, f"seaborn-v0_8-{style}"):
        if name in plt.style.available:
            plt.style.use(name)
            return
    raise ValueError(f"--style {style!r}: not a style of matplotlib (e.g. whitegrid, darkgrid, ticks, ggplot)")


def plot_curve(logs: list[str | Path], keys: list[str], *, out: str | Path | None = None,
               legend: list[str] | None = None, title: str | None = None, style: str | None = "whitegrid",
               window_size: str = "12*7", backend: str | None = None) -> dict[str, tuple[list, list]]:
    """Plot ``keys`` of every log on one figure (seed ``plot_curve``).

    Args:
        logs: ``.log.json`` files.
        keys: Record keys, e.g. ``['loss']`` or ``['accuracy_top-1', 'accuracy_top-5']``.
        out: The picture (``.png``, ``.pdf``, ``.svg``, ``.jpg``); ``None`` shows the figure instead.
        legend: One name per log and key (default: :func:`default_legend`).
        title: The figure's title.
        style: A seaborn style name (``whitegrid``, ``darkgrid``, ...) or ``None``.
        window_size: ``'W*H'`` in inches.
        backend: A matplotlib backend (default: matplotlib's choice; ``Agg`` when saving).

    Returns:
        ``{legend name: (xs, ys)}`` of every curve drawn.
    """
    legend = list(legend) if legend else default_legend(logs, keys)
    if len(legend) != len(logs) * len(keys):
        raise ValueError(f"--legend needs {len(logs) * len(keys)} names (one per log and key: {len(logs)} x "
                         f"{len(keys)}), got {len(legend)}")
    if out is not None and Path(out).suffix.lower() not in FORMATS:
        raise ValueError(f"--out must end in {', '.join(FORMATS)}, got {Path(out).name!r}")
    try:
        width, height = (float(v) for v in window_size.split("*"))
    except ValueError:
        raise ValueError(f"--window-size takes 'W*H', e.g. 12*7, got {window_size!r}") from None
    runs = [load_json_log(path) for path in logs]
    import matplotlib

    if backend:
        matplotlib.use(backend)
    elif out is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # evaluation metrics alone run over epochs; beside training keys they are put at the iteration ending their
    # epoch, so that one axis means one thing (the seed drew both on one axis, labelled by the last curve)
    by_iter = any(not _is_val_key(run, key) or run.iter_based for run in runs for key in keys)
    drawn: dict[str, tuple[list, list]] = {}
    with plt.style.context("default"):
        _apply_style(style)
        figure = plt.figure(figsize=(width, height))
        try:
            for i, run in enumerate(runs):
                for j, key in enumerate(keys):
                    name = legend[i * len(keys) + j]
                    xs, ys, x_label = curve(run, key, by_iter=by_iter)
                    print(f"plot curve of {run.path}, metric is {key}")
                    plt.xlabel(x_label)
                    if _is_val_key(run, key) or len(xs) == 1:
                        plt.plot(xs, ys, label=name, marker="o")
                    else:
                        plt.plot(xs, ys, label=name, linewidth=0.75)
                    drawn[name] = (xs, ys)
            plt.legend()
            if title:
                plt.title(title)
            if out is None:
                plt.show()
            else:
                Path(out).parent.mkdir(parents=True, exist_ok=True)
                print(f"save curve to: {out}")
                figure.savefig(out)
        finally:
            plt.close(figure)
    return drawn


def cal_train_time(path: str | Path, include_outliers: bool = False) -> dict[str, float]:
    """The seed's training-time summary of one log: per-epoch mean iteration time (the first logged
    iteration of each epoch left out unless ``include_outliers``).

    Returns:
        ``slowest_epoch``, ``slowest_time``, ``fastest_epoch``, ``fastest_time``, ``std``, ``average``.
    """
    import numpy as np

    run = load_json_log(path)
    per_epoch: dict[int, list[float]] = {}
    for record in run.train:
        if "time" in record:
            per_epoch.setdefault(record["epoch"], []).append(float(record["time"]))
    if not per_epoch:
        raise ValueError(f"{path} has no training records with a 'time'")
    epochs = sorted(per_epoch)
    times = [per_epoch[e] if include_outliers or len(per_epoch[e]) < 2 else per_epoch[e][1:] for e in epochs]
    means = np.array([np.mean(t) for t in times])
    slowest, fastest = int(means.argmax()), int(means.argmin())
    return {"slowest_epoch": epochs[slowest], "slowest_time": float(means[slowest]),
            "fastest_epoch": epochs[fastest], "fastest_time": float(means[fastest]),
            "std": float(means.std()), "average": float(np.mean(np.concatenate(times)))}


def _run_plot(args: argparse.Namespace) -> int:
    plot_curve(args.json_logs, args.keys, out=args.out, legend=args.legend, title=args.title, style=args.style,
               window_size=args.window_size, backend=args.backend)
    return 0


def _run_time(args: argparse.Namespace) -> int:
    for path in args.json_logs:
        t = cal_train_time(path, include_outliers=args.include_outliers)
        print(f"{'-' * 5}Analyze train time of {path}{'-' * 5}")
        print(f"slowest epoch {t['slowest_epoch']}, average time is {t['slowest_time']:.4f}")
        print(f"fastest epoch {t['fastest_epoch']}, average time is {t['fastest_time']:.4f}")
        print(f"time std over epochs is {t['std']:.4f}")
        print(f"average iter time: {t['average']:.4f} s/iter")
        print()
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """``trainyard analyze-logs plot-curve|cal-train-time JSON_LOGS ...`` (flags of the seed's analyze_logs.py)."""
    parser = sub.add_parser("analyze-logs", help="plot curves or time training from .log.json files "
                                                 "(MMCls analyze_logs.py)")
    tools = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    plot = tools.add_parser("plot-curve", aliases=["plot_curve"], help="curves of keys of one or more logs")
    plot.add_argument("json_logs", nargs="+", help="the .log.json files of the runs")
    plot.add_argument("--keys", nargs="+", default=["loss"], help="record keys to plot (default: loss)")
    plot.add_argument("--title", help="the figure's title")
    plot.add_argument("--legend", nargs="+", help="one name per log and key (default: <log>_<key>)")
    plot.add_argument("--backend", help="matplotlib backend (default: matplotlib's; Agg with --out)")
    plot.add_argument("--style", default="whitegrid", help="seaborn style (default: whitegrid)")
    plot.add_argument("--out", help="save the figure (.png, .pdf, .svg, .jpg) instead of showing it")
    plot.add_argument("--window-size", default="12*7", help="figure size 'W*H' in inches (default: 12*7)")
    plot.set_defaults(func=_run_plot)
    timing = tools.add_parser("cal-train-time", aliases=["cal_train_time"], help="time per iteration and epoch")
    timing.add_argument("json_logs", nargs="+", help="the .log.json files of the runs")
    timing.add_argument("--include-outliers", action="store_true",
                        help="count the first iteration of each epoch too (often slower)")
    timing.set_defaults(func=_run_time)
    return parser
