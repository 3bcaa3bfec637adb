"""Seconds to score a checkpoint with the evaluation job's sharded scoring (``workers.evaluate.launch``), with
1 and with 2 Ray workers, and 1 ÷ 2 (issue 17: "2 workers ÷ 1 measured on a dataset big enough to matter").

Setup: a CustomDataset of ``--images`` PNGs of 64x64 (10 classes) written into a temporary storage, the demo
spec (``demo/resnet18-tiny_2xb32-6e_digits.py``) with its test pipeline resizing to ``--size``, an untrained
checkpoint of its model; the job file and ``evaluation.json`` as the backend writes them; a local Ray of its own
(no dashboard, its own temp folder). Each figure is the job's own ``scoring_seconds`` (the Ray tasks: their
start, the dataset, the model and the forward passes), best of ``--repeats``; the two alternate.

    .venv/bin/python bench/evaluation_workers.py [--images 4000] [--size 64] [--repeats 2]

Measured on the shared 2-core development machine, 2026-12-06 (4000 images, 64x64, best of 2):
    load ~3, 22:10 UTC     1 worker 14.26 s   2 workers 13.30 s   1 ÷ 2 1.07x
    load 13-18, 22:20 UTC  1 worker 21.04 s   2 workers 60.38 s   1 ÷ 2 0.35x
Two cores shared with other engineers' test suites leave the second worker nothing to run on; the ratio that
matters needs a machine with free cores. On the same machine with nothing else running, 2026-12-07 (load 0.5-1.5):
    02:52 UTC, --images 4000 --size 128 --repeats 2: 1 worker 77.27 s   2 workers 40.81 s   1 ÷ 2 1.89x
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path


def make_storage(root: Path, images: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / "datasets" / "bench" / "ds" / "val" / str(i % 10)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def write_job(root: Path, size: int) -> str:
    import torch

    import jobspecs
    import jobspecs.library
    from jobspecs.contract import Job, Resources
    from workers.apis import init_model

    spec = jobspecs.load(jobspecs.library.library_dir() / "demo" / "resnet18-tiny_2xb32-6e_digits.py")
    for step in spec["data"]["test"]["pipeline"]:
        if step["type"] == "Resize":
            step["size"] = (size, size)
    spec["data"]["test"]["data_prefix"] = "data/ds/val"
    model = init_model(spec, None)
    (root / "ckpt").mkdir(exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "meta": {"epoch": 0}}, root / "ckpt" / "bench.pth")
    job = Job(spec=spec, resources=Resources.from_json({"num_workers": 1}), data_key="datasets/bench/ds",
              dataset_name="ds", run_id="bench", run_key="evaluations/bench")
    (root / "evaluations" / "bench").mkdir(parents=True, exist_ok=True)
    (root / "evaluations" / "bench" / "job.json").write_text(json.dumps(job.to_json()))
    return "evaluations/bench/job.json"


def score(root: Path, job_file: str, workers: int) -> float:
    from workers.evaluate import launch

    (root / "evaluations" / "bench" / "evaluation.json").write_text(json.dumps(
        {"evaluation_id": "bench", "checkpoint_key": "ckpt/bench.pth", "split": "test", "num_workers": workers}))
    if launch.main([job_file]) != 0:
        raise SystemExit("the evaluation failed (see above)")
    return json.loads((root / "evaluations" / "bench" / "result.json").read_text())["scoring_seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--size", type=int, default=64, help="the test pipeline's Resize")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TRAINYARD_STORAGE"] = str(root)
        import ray

        # a Ray of its own, without a dashboard: no port shared with a stack's head on the same machine
        ray.init(include_dashboard=False, _temp_dir=str(root / "ray"), log_to_driver=False)
        make_storage(root, args.images)
        job_file = write_job(root, args.size)
        score(root, job_file, 2)  # warm-up: Ray's start and both worker processes (Ray reuses them)
        best = {1: float("inf"), 2: float("inf")}
        for _ in range(args.repeats):
            for workers in (1, 2):
                best[workers] = min(best[workers], score(root, job_file, workers))
    print(f"images {args.images}, {args.size}x{args.size}, CPUs {os.cpu_count()}")
    print(f"1 worker   {best[1]:7.2f} s")
    print(f"2 workers  {best[2]:7.2f} s")
    print(f"1 ÷ 2      {best[1] / best[2]:7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
