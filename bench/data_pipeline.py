"""Images per second of the ImageNet train pipeline, Trainyard against MMClassification 0.25, step by step
and end to end, in one run (issue 15).

Setup: a CustomDataset of 400 JPEGs of 320x240 written into a temporary folder; the pipeline
``LoadImageFromFile -> RandomResizedCrop(224) -> RandomFlip -> Normalize -> ImageToTensor -> ToTensor ->
Collect`` (seed section 7.1); one process, one thread (``cv2.setNumThreads(1)``, ``torch.set_num_threads(1)``
on both sides). Each side runs in a subprocess of its own venv (bench/pipeline_side.py): Trainyard with
this repository's ``.venv``, MMCls 0.25.0 / mmcv 1.7.2 / OpenCV 4.10 with ``.mmcls-venv`` (``make
mmcls-venv``); the two alternate, ``--repeats`` times each, and each figure is the best repeat (the range
follows it); inside a repeat each figure is the best of ``--passes`` passes (epochs). It prints, per side,
images/s of each step (decode = LoadImageFromFile), of ``dataset[i]`` end to end, and of an epoch through
each side's ``build_dataloader`` (batch 32, collated; Trainyard's with ``fuse_normalize``, its batch
normalised by ``prepare_images``) with 0 and with 2 loader workers, and Trainyard / MMCls. The "per CPU
second" rows divide by the CPU time of the process and its loader workers instead of the wall clock: on the
shared 2-core machine they swing far less with the other engineers' load. Without the side venv it prints
Trainyard alone.

    make mmcls-venv    # once: MMCls 0.25 in .mmcls-venv, outside the project's dependencies
    .venv/bin/python bench/data_pipeline.py [--images 400] [--repeats 3] [--passes 3] [--workers 2] [--batch 32]

``--trainyard-code DIR`` measures another tree's ``workers`` (e.g. ``git archive HEAD workers jobspecs | tar
-x -C DIR`` for a before/after), whose loader may lack ``fuse_normalize`` (then it normalises per image).

Measured on the 2-core development machine (the figures: best of 3 repeats, images/s; Trainyard / MMCls):
the other helpers' jobs shared the 2 cores, so single figures swing (see each range); the ratios come from
alternating repeats. Columns: Trainyard, MMCls, Trainyard/MMCls.

    step / end to end              before: HEAD 4a4ab5b, 18:29 UTC  after: working tree 18:31 UTC, load ~4
    decode                         1121   2709   0.41              1223   1465   0.84
    RandomResizedCrop              2062  10375   0.20              5467   6904   0.79
    RandomFlip                    10428 114690   0.09            149512  67510   2.21
    Normalize                      1611   4146   0.39              1801   2426   0.74
    ImageToTensor                 13750 100458   0.14             40035  71588   0.56
    ToTensor+Collect             161912 203622   0.80            197590 165644   1.19
    dataset[i], 1 process           518   1243   0.42               628    675   0.93
    build_dataloader, 0 workers     464   1025   0.45               687    644   1.07
    build_dataloader, 2 workers     262    748   0.35               541    473   1.15

On a quiet machine (20:43 UTC, commit c14aef1, nothing else running): Trainyard, MMCls, Trainyard/MMCls

    decode                         2264   2547   0.89     (the same cv2.imdecode call on both sides)
    RandomResizedCrop             10632   9520   1.12
    RandomFlip                   154424 103362   1.49
    Normalize                      3392   3685   0.92     (per image; the loaders defer it to the batch)
    ImageToTensor                 57085  74947   0.76
    ToTensor+Collect             185409 187053   0.99
    dataset[i], 1 process          1164   1212   0.96
    build_dataloader, 0 workers    1361    909   1.50
    build_dataloader, 2 workers    1695   1276   1.33

So the loader with 0 workers reaches the issue's 1.5x, with 2 workers 1.33x; per step, decode, Normalize and
ImageToTensor are still slower than MMCls's.

A later run (19:18 UTC, working tree, load average ~40 from other jobs) gave end to end 333 / 635 (0.52)
for dataset[i], 396 / 353 (1.12) with 0 and 209 / 163 (1.29) with 2 loader workers: too loaded to rank
steps. With 2 workers on 2 busy cores both sides are slower than with 0 (2 workers / 0 workers: 0.5-0.8).

Issue 15's speed work (22:00 UTC, load average 2-7 falling; before = HEAD 63724d7 via ``--trainyard-code``,
after = working tree; each against MMCls in its own run, 3 repeats x 3 passes; Trainyard/MMCls):

    step / end to end                          before   after     after: Trainyard, MMCls images/s
    decode                                     0.98     0.97      2294   2374   (the same cv2.imdecode call)
    RandomResizedCrop                          1.21     1.10      8654   7841
    RandomFlip                                 1.66     1.56    173175 110756
    Normalize                                  0.93     2.38      6926   2910
    ImageToTensor                              0.97     1.66    155710  93872
    ToTensor+Collect                           1.06     0.99    159210 160030
    dataset[i], 1 process                      0.95     1.26      1394   1105
    build_dataloader, 0 workers                1.49     1.50      1345    894
    build_dataloader, 2 workers                1.10     1.37      1747   1279
    build_dataloader, 0 workers, per CPU s     1.49     1.50      1346    896
    build_dataloader, 2 workers, per CPU s     1.24     1.45       973    673

What changed: ``Normalize`` of a uint8 image swaps (and un-flips) the bytes, then casts, subtracts and
divides in one vectorised float32 pass each (mmcv copies a flipped view element by element, then works on
float32 in five passes); the fused batch is normalised on the CPU by ``cv2.LUT`` tables made with the same
float32 operations; ``ImageToTensor`` of a fused uint8 image splits it into a contiguous CxHxW array, so
that collating is a memcpy; the deferred normalisation is one shared object per pipeline; ``dataset[i]``
copies its annotation without ``copy.deepcopy``. Decode and ToTensor+Collect are the same library calls
on both sides (their ratios are 1.0 within the run-to-run spread of a few per cent).

Fresh memory (7 Dec, 01:05-01:54 UTC). Profiling the 2-worker loader (per-process CPU time and minor page
faults from ``/proc``, strace) found the time in page faults, not in Python: each batch took ~1,200 faults
in its worker (a fresh shared-memory block for the uint8 images, zero-filled page by page and freed again
after the training process), ~800 more there from glibc trimming and re-mapping the images' few-hundred-KiB
arrays, and ~4,700 in the training process (``prepare_images``'s float32 batch: ``torch.empty`` takes it
with ``posix_memalign``, which glibc serves from fresh pages every time). On this VM a fault costs
microseconds; together they were ~0.3 ms an image. Now each worker collates into shared blocks it reuses
once the training process has dropped their batch (``workers/data/batch_memory.py``), keeps freed memory in
its heap (``mallopt`` in ``init_loader_worker``), and the float32 batches come from numpy's ``malloc``
(reused): ~1 fault a batch in a worker, ~100 in the training process. ``to_tensor`` also asks torch first
instead of checking strides (half the time for a label). Runs of this file, ``--passes 5``, Trainyard/MMCls
(best of 3 repeats; per-repeat ratios and the 1-minute load average print below the table):

    run (load average)                  0 workers   2 workers   0 w, per CPU s   2 w, per CPU s
    before (working tree less this change, --trainyard-code)
      01:41 (7.0-5.0)                      1.24        1.43          1.63             1.64
      01:52 (13.2-7.2)                     1.08        1.36          1.64             1.51
    after
      01:43 (4.9-4.2)                      1.91        2.09          1.83             2.28
      01:45 (3.9-3.7)                      1.66        3.70          1.70             2.40
      01:48 (2.0-2.6)                      1.67        2.01          1.69             2.38
      01:50 (3.0-13.8)                     1.84        1.66          1.83             2.33

Steps in the 01:48 run (the calmest, best of 3; per repeat): decode 1.00 (0.97-1.02), RandomResizedCrop
1.15 (1.02-1.26), RandomFlip 1.77, Normalize 3.62, ImageToTensor 1.25 (1.20-1.47), ToTensor+Collect 1.10
(0.99-1.15); ``dataset[i]`` 1.41. Decode is the same ``cv2.imdecode`` call on both sides and stays at 1.0
within a few per cent; one repeat of a loaded run can put any step under 1. MMCls's own 2-worker loader
pays the same faults four times over (float32 batches), so it runs slower with 2 workers than with 0.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SIDE = Path(__file__).resolve().parent / "pipeline_side.py"
PYTHONS = {"trainyard": Path(sys.executable), "mmcls": ROOT / ".mmcls-venv" / "bin" / "python"}
LABELS = {"trainyard": "Trainyard", "mmcls": "MMCls"}
STEPS = ["decode", "RandomResizedCrop", "RandomFlip", "Normalize", "ImageToTensor", "ToTensor+Collect"]


def write_jpegs(root: Path, count: int, width: int = 320, height: int = 240, num_classes: int = 10) -> None:
    """``count`` JPEGs (quality 90) of gradients, discs and a little noise, in ``num_classes`` folders."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width * 180, yy / height * 160, (xx + yy) / (width + height) * 200], axis=2)
    for i in range(count):
        folder = root / f"class_{i % num_classes}"
        folder.mkdir(parents=True, exist_ok=True)
        img = base + rng.normal(0, 6, base.shape)
        for _ in range(3):
            cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(10, 80)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:05d}.jpg", quality=90)


def run_side(side: str, root: Path, args) -> dict:
    command = [str(PYTHONS[side]), str(SIDE), "--side", side, "--root", str(root), "--batch", str(args.batch),
               "--workers", str(args.workers), "--passes", str(args.passes)] + (["--code", args.trainyard_code] if side == "trainyard" else [])
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} side failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rates(result: dict) -> dict[str, float]:
    """Images/s of each step and end-to-end figure of one side's run."""
    n = result["images"]
    out = {step: n / result["steps"][step] for step in STEPS if result["steps"].get(step)}
    out["dataset[i], 1 process"] = n / result["dataset"]
    if "dataset_cpu" in result:
        out["dataset[i], per CPU second"] = n / result["dataset_cpu"]
    for key in sorted(k for k in result if k.startswith("loader") and not k.endswith(("_images", "_cpu"))):
        workers = key.removeprefix("loader")
        out[f"build_dataloader, {workers} workers"] = result[f"{key}_images"] / result[key]
    for key in sorted(k for k in result if k.startswith("loader") and k.endswith("_cpu")):
        workers = key.removeprefix("loader").removesuffix("_cpu")
        out[f"build_dataloader, {workers} workers, per CPU second"] = result[f"loader{workers}_images"] / result[key]
    return out


def table(runs: dict[str, list[dict]]) -> list[str]:
    sides = [side for side in ("trainyard", "mmcls") if runs.get(side)]
    per_side = {side: [rates(r) for r in runs[side]] for side in sides}
    rows = list(per_side[sides[0]][0])
    header = f"{'images/s (best; min-max)':34s}" + "".join(f"{LABELS[s]:>24s}" for s in sides)
    lines = [header + ("   Trainyard/MMCls" if len(sides) == 2 else "")]
    for row in rows:
        best = {}
        line = f"{row:34s}"
        for side in sides:
            values = [r[row] for r in per_side[side] if row in r]
            best[side] = max(values)
            line += f"{best[side]:>10.0f} ({min(values):.0f}-{max(values):.0f})".rjust(24)
        if len(sides) == 2:
            line += f"{best['trainyard'] / best['mmcls']:>17.2f}"
        lines.append(line)
    for side in sides:
        loaders = [k for k in rows if k.startswith("build_dataloader") and not k.endswith("CPU second")]
        if len(loaders) == 2:
            best = {k: max(r[k] for r in per_side[side]) for k in loaders}
            lines.append(f"{side}: {loaders[1]} / {loaders[0]}: {best[loaders[1]] / best[loaders[0]]:.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--passes", type=int, default=3,
                        help="passes (epochs) of each figure inside a repeat; the best counts")
    parser.add_argument("--trainyard-code", default=str(ROOT),
                        help="the Trainyard tree to measure (e.g. an exported older commit, for before/after)")
    args = parser.parse_args()
    sides = ["trainyard"]
    if PYTHONS["mmcls"].exists():
        sides.append("mmcls")
    else:
        print("no MMCls side venv (.mmcls-venv): Trainyard alone. `make mmcls-venv` makes it (MMCls 0.25.0, "
              "mmcv 1.7.2, OpenCV 4.10, outside the project's dependencies).")
    with tempfile.TemporaryDirectory(prefix="trainyard-bench-") as tmp:
        start = time.perf_counter()
        write_jpegs(Path(tmp), args.images)
        print(f"wrote {args.images} JPEGs of 320x240 in {time.perf_counter() - start:.1f} s; train pipeline at 224, "
              f"1 thread, {args.repeats} alternating repeats")
        runs: dict[str, list[dict]] = {side: [] for side in sides}
        loads: list[float] = []
        for repeat in range(args.repeats):
            for side in sides if repeat % 2 == 0 else sides[::-1]:
                runs[side].append(run_side(side, Path(tmp), args))
                print(f"  repeat {repeat + 1}: {side} done, load average {os.getloadavg()[0]:.1f}", flush=True)
            loads.append(os.getloadavg()[0])
    print("\n".join(table(runs)))
    if len(sides) == 2:
        print("\n".join(paired(runs, loads)))


def paired(runs: dict[str, list[dict]], loads: list[float]) -> list[str]:
    """Trainyard / MMCls of every row within each repeat (the two sides ran one after the other, under about
    the same load), with the 1-minute load average at the end of the repeat."""
    rows = list(rates(runs["trainyard"][0]))
    lines = [f"{'Trainyard/MMCls per repeat':34s}" + "".join(f"{f'#{i + 1} (load {load:.1f})':>20s}"
                                                           for i, load in enumerate(loads))]
    for row in rows:
        ratios = []
        for trainyard, mmcls in zip(runs["trainyard"], runs["mmcls"], strict=True):
            ours, theirs = rates(trainyard), rates(mmcls)
            ratios.append(f"{ours[row] / theirs[row]:>20.2f}" if row in ours and row in theirs else f"{'-':>20s}")
        lines.append(f"{row:34s}" + "".join(ratios))
    return lines


if __name__ == "__main__":
    main()
