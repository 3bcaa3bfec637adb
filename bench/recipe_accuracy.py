"""Do the digits demo and the CIFAR-10 recipe still learn as well with the rewritten data pipeline?

Trains, with the same seed, in one run and alternating old / new:

(a) the library's demo spec ``demo/resnet18-tiny_2xb32-6e_digits.py`` on the digits that
    ``workers.data.demo.write_digits_dataset`` writes (1438 train / 359 val PNGs of 16x16; its own
    schedule, 6 epochs, unless ``--demo-epochs``);
(b) the library's recipe ``resnet/resnet18_8xb16_cifar10.py`` (full-width ResNet_CIFAR-18, batch 16,
    its pipeline RandomCrop(32, padding=4) -> RandomFlip -> Normalize, 2 loader workers) on
    scikit-learn's digits written in CIFAR-10's on-disk format (``tests/support/digits_cifar.py``: 8x8
    upscaled bilinearly to 32x32, grey copied to R, G, B; 359 val images in ``test_batch``). A
    subset of the training digits is possible (``--train-per-class``); by default all 1438 are used: the
    full-width ResNet-18 trains at ~70 images/s on this 2-core CPU when it is quiet (~10 under load).
    cfg_options changed:
    ``runner.max_epochs=4`` (200 in the recipe), ``lr_config.step=[2, 3]`` (the recipe's [100, 150]
    scaled: x0.1 at 50% and 75% of the run),
    ``checkpoint_config.interval=100`` (no checkpoints: they cost time and do not change the training),
    ``log_config.interval=5``, ``evaluation.interval=1``.

"new" is the working tree's code (``workers/`` with the OpenCV pipeline and Normalize deferred to the
batch); "old" is ``--old`` (default 1664011, the last commit with the Pillow pipeline and per-image
Normalize), checked out with ``git worktree add --detach /tmp/recipe-base 1664011`` and run in a subprocess with cwd and PYTHONPATH
there (removed at the end unless ``--keep-worktree``). Both sides train from the same data files,
with the same seeds (``--seeds``, default 0), in-process (``workers.engine.train``), one side at a
time: demo new, demo old, CIFAR old, CIFAR new, ... (ABBA, so that load drifting on a shared machine
hits both alike). ``--repeats`` runs each side again (timing only: accuracies repeat exactly). Accuracies
are not expected to be bitwise equal: the random crops / flips are drawn by each side's code, and the
new decoder/resampler is OpenCV's. Printed: val top-1 per epoch for both sides, the final
difference, and training images/s (batch size / median iteration time of the log records, data
time included).

    .venv/bin/python bench/recipe_accuracy.py                 # ~7 minutes on 2 quiet cores
    .venv/bin/python bench/recipe_accuracy.py --only cifar --seeds 1,2   # ~6 minutes
    .venv/bin/python bench/recipe_accuracy.py --only demo     # ~1.5 minutes

Measured 2026-12-06 on this machine (2 cores, shared with other helpers' jobs), HEAD 1664011 vs the working tree:

    (a) demo, 6 epochs, seed 0 (accuracies repeat exactly between runs of a side):
        epoch      1      2      3      4      5      6
        new    26.18  74.93  82.73  93.87  98.33  99.16     final new - old = +0.55 points
        old    21.45  54.32  92.20  89.69  98.61  98.61     top-5 100.00 both
      images/s (quiet machine, --only demo --repeats 3): new 1507 (1487, 1507, 1568), old 1329
      (1331, 1282, 1329); data time 2.2 vs 5.6 ms/iter; 6 s vs 7 s a run. Under other helpers' load
      single runs swung from 394 to 1341 img/s (one new run took 140 s): compare repeats, not one run.
    (b) CIFAR recipe, 4 epochs, lr steps [2, 3], all 1438 training digits, final val top-1:
        seed 0: new 83.84, old 87.47 (-3.63)   epochs new 32.87 43.45 79.94 | old 33.98 49.03 79.11
        seed 1: new 79.39, old 89.42 (-10.03)  epochs new 17.27 46.52 75.49 | old 18.38 62.40 84.68
        seed 2: new 79.94, old 90.25 (-10.31)  epochs new 28.97 50.14 73.26 | old 25.35 74.65 85.52
        seed 3: new 88.86, old 86.91 (+1.95)   epochs new 24.79 53.76 84.96 | old 27.58 55.99 86.91
        mean over seeds 0-3: new 83.01, old 88.51 (-5.5 points); top-5 99.7-100 on both sides
        seeds 4-7 (a second run, old = 1664011, no other load): new 86.07 81.34 85.79 74.65, old 84.96
        79.39 84.12 81.89 (+1.11 +1.95 +1.67 -7.24), mean new 81.96, old 82.59 (-0.63 points); 922 s
        all 8 seeds: new 82.49 (sd 4.5), old 85.55 (sd 3.8); per-seed difference -3.1, sd 5.4, so a
        standard error of 1.9 (t = -1.6): within the spread of this schedule, not yet shown equal
        (new, seed 1, data.persistent_workers=False: 77.16; data.fuse_normalize=False: the same
        epochs 1-3 as fused, bit for bit)
      images/s: new 71-72, old 70 (data 2.1-2.2 vs 1.8-2.5 ms/iter); ~90 s a run when the machine is quiet.
      Total of the default command: 398 s (the demo ~20 s a side quiet; the CIFAR recipe ~90 s a side).

    The new side ends lower on the short CIFAR schedule for three of four seeds, yet its
    pipeline and engine give the old side's training *bit for bit* when the random draws are aligned:
    with data.workers_per_gpu=0 and the new RandomCrop's corner drawn from numpy (as the old code
    drew it) instead of Python's ``random`` (as MMCls 0.25 draws it), one epoch of the demo and of the
    CIFAR recipe (600-digit subset) give identical losses at every log record and identical top-1
    (21.45 and 17.83) on both sides. In the loader workers (2, persistent) the new side's flips
    (~50%) and crop corners (uniform over the 9x9 positions) have the old side's statistics, and
    differ between epochs and workers. So the gap is not different images or a different training
    step; it comes with the different random draws. Whether that is only the spread of a 4-epoch,
    lr-0.1, batch-16 run (seed 3 goes the other way; one side's seeds span 79-89) or something
    about the draws themselves is NOT settled by eight seeds (four go each side's way, the old side's
    by larger margins). Rerun with more epochs on a quiet machine (``--only cifar --seeds 0,1,2,3,4
    --epochs 8``, ~25 min) before calling the recipe's accuracy reached.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = "demo/resnet18-tiny_2xb32-6e_digits.py"
CIFAR = "resnet/resnet18_8xb16_cifar10.py"


# --- child: one training run with whatever code PYTHONPATH points at -----------------------------------


class _Reporter:
    """What the engine reports: val metrics per epoch (log lines dropped)."""

    def __init__(self):
        self.val: list[dict] = []

    def log(self, line: str) -> None:
        pass

    def metrics(self, step: int, values: dict, epoch: int, mode: str) -> None:
        if mode == "val":
            self.val.append({"epoch": epoch, **values})

    def checkpoint(self, path: str, epoch: int, iteration: int, metrics: dict) -> None:
        pass


def _cifar_options(epochs: int) -> dict:
    steps = sorted({round(epochs * 0.5), round(epochs * 0.75)} - {0, epochs})
    return {"runner.max_epochs": epochs, "lr_config.step": steps or [max(1, epochs - 1)],
            "checkpoint_config.interval": 100, "log_config.interval": 5,
            "evaluation.interval": 1, "evaluation.metric": "accuracy"}


def child(job: str, data_root: str, work_dir: str, epochs: int, seed: int = 0, extra: dict | None = None) -> dict:
    import torch

    import jobspecs
    from workers.engine import train

    options = {"runner.max_epochs": epochs} if job == "demo" else _cifar_options(epochs)
    options.update(extra or {})
    spec = jobspecs.load_library(DEMO if job == "demo" else CIFAR, options)
    reporter = _Reporter()
    start = time.perf_counter()
    train(spec, work_dir, data_root=data_root, seed=seed, reporter=reporter, console=False)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in next(Path(work_dir).glob("*.log.json")).read_text().splitlines()]
    train_records = [r for r in records if r.get("mode") == "train" and "time" in r]
    batch = spec["data"]["samples_per_gpu"]
    if not train_records:
        raise SystemExit(f"{job}: fewer iterations than the log interval, no timing records")
    median_time = statistics.median(r["time"] for r in train_records)
    import workers

    return {"job": job, "seed": seed, "code": str(Path(workers.__file__).resolve().parents[1]), "options": options,
            "top1": [round(v["accuracy_top-1"], 2) for v in reporter.val],
            "top5": [round(v.get("accuracy_top-5", float("nan")), 2) for v in reporter.val],
            "images_per_s": batch / median_time,
            "data_ms": 1000 * statistics.median(r["data_time"] for r in train_records),
            "wall_s": wall, "threads": torch.get_num_threads()}


# The last commit before issue 15's pipeline (Pillow decoding and resampling, per-image Normalize).
OLD = "1664011"


# --- parent -----------------------------------------------------------------------------------------------


def _worktree(path: Path, rev: str) -> bool:
    """Check out ``rev`` at ``path`` (detached); False when it was already there (kept at the end)."""
    if (path / "workers").is_dir():
        return False
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev], check=True,
                   capture_output=True)
    return True


def _run(job: str, tree: Path, data_root: Path, epochs: int, python: str, seed: int) -> dict:
    work_dir = tempfile.mkdtemp(prefix=f"recipe-{job}-", dir=data_root)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run([python, str(Path(__file__).resolve()), "--child", job, "--data-root", str(data_root),
                           "--work-dir", work_dir, "--epochs", str(epochs), "--seed", str(seed)],
                          cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{job} with {tree} failed:\n{proc.stderr[-4000:]}")
    shutil.rmtree(work_dir, ignore_errors=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _report(title: str, news: list[dict], olds: list[dict]) -> None:
    print(f"\n{title}\n  new: {news[0]['code']}, old: {olds[0]['code']}")
    seeds = sorted({run["seed"] for run in news})
    for side, runs in (("new", news), ("old", olds)):
        for seed in seeds:
            same = [run["top1"] for run in runs if run["seed"] == seed]
            if any(top1 != same[0] for top1 in same):
                print(f"  NOTE: the {side} side's accuracies differ between repeats of seed {seed}: {same}")
    for seed in seeds:
        new = next(run for run in news if run["seed"] == seed)
        old = next(run for run in olds if run["seed"] == seed)
        print(f"  seed {seed}\n  epoch   new top-1   old top-1")
        for epoch, (a, b) in enumerate(zip(new["top1"], old["top1"], strict=True), 1):
            print(f"  {epoch:5d}   {a:9.2f}   {b:9.2f}")
        print(f"  final top-1: new {new['top1'][-1]:.2f}, old {old['top1'][-1]:.2f}, "
              f"new - old = {new['top1'][-1] - old['top1'][-1]:+.2f} points; best: new {max(new['top1']):.2f}, "
              f"old {max(old['top1']):.2f}; final top-5: new {new['top5'][-1]:.2f}, old {old['top5'][-1]:.2f}")
    if len(seeds) > 1:
        finals = {side: [next(r for r in runs if r["seed"] == seed)["top1"][-1] for seed in seeds]
                  for side, runs in (("new", news), ("old", olds))}
        for side, values in finals.items():
            print(f"  {side} final top-1 over seeds {seeds}: mean {statistics.mean(values):.2f}, "
                  f"sd {statistics.stdev(values):.2f}, min {min(values):.2f}, max {max(values):.2f}")
        print(f"  mean new - old = {statistics.mean(finals['new']) - statistics.mean(finals['old']):+.2f} points")

    def speed(runs: list[dict]) -> str:
        rates = [run["images_per_s"] for run in runs]
        walls = ", ".join(f"{run['wall_s']:.0f}" for run in runs)
        return (f"{statistics.median(rates):.1f} (runs {', '.join(f'{x:.0f}' for x in rates)}; data "
                f"{statistics.median(run['data_ms'] for run in runs):.1f} ms/iter; wall "
                f"{walls} s)")

    print(f"  training images/s, median: new {speed(news)}\n                             old {speed(olds)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="CIFAR recipe epochs (its lr steps scaled to them)")
    parser.add_argument("--demo-epochs", type=int, default=6, help="demo spec epochs (its cosine schedule follows)")
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="CIFAR-format training digits a class (default all: ~144)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side (timing; accuracies repeat)")
    parser.add_argument("--only", choices=["demo", "cifar"], help="run one of the two")
    parser.add_argument("--old", default=OLD, help=f"the old side's revision (default {OLD}: the Pillow pipeline)")
    parser.add_argument("--base", default="/tmp/recipe-base", help="where the old side's worktree goes")
    parser.add_argument("--keep-worktree", action="store_true")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (each side runs each)")
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["demo", "cifar"], help=argparse.SUPPRESS)
    parser.add_argument("--data-root", help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.data_root, args.work_dir, args.epochs, args.seed,
                                     json.loads(args.options))))
        return

    sys.path.insert(0, str(REPO))
    from tests.support.digits_cifar import write_digits_cifar10
    from workers.data.demo import write_digits_dataset

    base = Path(args.base)
    created = _worktree(base, args.old)
    data_root = Path(tempfile.mkdtemp(prefix="recipe-accuracy-"))
    try:
        demo_counts = write_digits_dataset(data_root / "data" / "digits")
        cifar_counts = write_digits_cifar10(data_root / "data" / "cifar10", train_per_class=args.train_per_class)
        old = subprocess.run(["git", "-C", str(base), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        print(f"new = working tree {REPO}; old = {old} at {base}; data in {data_root}")
        start = time.perf_counter()
        jobs = [("demo", args.demo_epochs), ("cifar", args.epochs)]
        for k, (job, epochs) in enumerate(j for j in jobs if args.only in (None, j[0])):
            runs: dict[str, list[dict]] = {"new": [], "old": []}
            seeds = [int(x) for x in args.seeds.split(",")]
            pairs = [(seed, r) for seed in seeds for r in range(args.repeats)]
            for i, (seed, _) in enumerate(pairs):  # new, old, old, new, ...: ABBA over jobs, seeds, repeats
                order = [("new", REPO), ("old", base)]
                for side, tree in order if (k + i) % 2 == 0 else order[::-1]:
                    runs[side].append(_run(job, tree, data_root, epochs, args.python, seed))
            if job == "demo":
                title = f"(a) {DEMO}, {epochs} epochs, {demo_counts['train']} train / {demo_counts['val']} val"
            else:
                title = (f"(b) {CIFAR} on digits as CIFAR-10, {cifar_counts['train']} train / {cifar_counts['val']} "
                         f"val, cfg_options {runs['new'][0]['options']}")
            _report(title, runs["new"], runs["old"])
        print(f"\ntotal {time.perf_counter() - start:.0f} s, torch threads {runs['new'][0]['threads']}")
    finally:
        shutil.rmtree(data_root, ignore_errors=True)
        if created and not args.keep_worktree:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=False)


if __name__ == "__main__":
    main()
