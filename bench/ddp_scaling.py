"""DDP on 2 Ray Train workers vs 1: training images/s of the demo spec on the digits, same machine.

Both runs go through the real Ray entrypoint (`workers.distributed.launch`) on a local Ray
instance; images/s come from the engine's JSON log (iteration time, excluding evaluation and
start-up). The 1-worker run is the baseline measured in the same invocation.

    .venv/bin/python bench/ddp_scaling.py [--epochs 3]

On a 2-core machine, expect well under 2x: each worker gets one core, gloo's all-reduce of the
gradients costs a share of each step, and anything else running competes for the same cores.
"""
import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(root: Path, data: Path, workers: int, epochs: int, batch: int) -> float:
    import jobspecs
    from workers.distributed import launch

    spec = jobspecs.load_library("demo/resnet18-tiny_2xb32-6e_digits.py",
                                 cfg_options={"runner.max_epochs": epochs, "evaluation.interval": epochs,
                                              "data.samples_per_gpu": batch, "log_config.interval": 5})
    run_dir = root / "runs" / f"w{workers}"  # the job file's storage is two folders up: root
    run_dir.mkdir(parents=True)
    job = {"run_id": f"w{workers}", "run_key": f"runs/w{workers}", "spec": spec,
           "data_key": data.relative_to(root).as_posix(),
           "resources": {"num_workers": workers, "cpus_per_worker": 1}, "seed": 0}
    (run_dir / "job.json").write_text(json.dumps(job))
    assert launch.main([str(run_dir / "job.json")]) == 0
    log = next((run_dir / "work").glob("*.log.json")).read_text().splitlines()
    times = [json.loads(line)["time"] for line in log if '"mode": "train"' in line]
    times = times[len(times) // 3:]  # skip the first third: warm-up
    return batch * workers / statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    import ray

    from workers.data.demo import write_digits_dataset

    root = Path(tempfile.mkdtemp(prefix="trainyard-ddp-"))
    data = root / "digits"
    write_digits_dataset(data)
    ray.init(num_cpus=4, include_dashboard=False)
    try:
        one = run(root, data, 1, args.epochs, args.batch)
        two = run(root, data, 2, args.epochs, args.batch)
    finally:
        ray.shutdown()
    print(f"\n1 worker : {one:8.1f} images/s (baseline)")
    print(f"2 workers: {two:8.1f} images/s  ratio {two / one:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
