"""Worker-kill recovery: seconds from SIGKILL of a Ray Train worker to training again.

The demo spec runs through the real Ray entrypoint (``python -m workers.distributed.launch``) with
``max_failures=2`` and a checkpoint every epoch. Once the second epoch's checkpoint exists, one
``RayTrainWorker`` process is killed; Ray Train restarts the worker group and the engine resumes
from the latest checkpoint. "Training again" is the first training record the resumed engine
writes (a new ``*.log.json`` in the work dir). The baseline, measured in the same invocation, is the
cold start: launching the job to its first training record.

    .venv/bin/python bench/recovery_time.py [--repeat 1]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _train_worker_pids() -> list[int]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "RayTrainWorker" in line]


def _first_train_record(logs: list[Path]) -> bool:
    return any('"mode": "train"' in p.read_text() for p in logs if p.is_file())


def _wait(predicate, timeout: float, what: str, proc) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        if proc.poll() is not None:
            raise RuntimeError(f"the job ended (exit {proc.returncode}) before {what}")
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def one(root: Path, data: Path, index: int) -> tuple[float, float]:
    import jobspecs

    spec = jobspecs.load_library("demo/resnet18-tiny_2xb32-6e_digits.py",
                                 cfg_options={"runner.max_epochs": 8, "checkpoint_config.interval": 1})
    run_dir = root / "runs" / f"r{index}"  # the job file's storage is two folders up: root
    work = run_dir / "work"
    run_dir.mkdir(parents=True)
    job = {"run_id": f"r{index}", "run_key": f"runs/r{index}", "spec": spec,
           "data_key": data.relative_to(root).as_posix(),
           "resources": {"num_workers": 2, "cpus_per_worker": 1, "max_failures": 2}, "seed": 0}
    (run_dir / "job.json").write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_")}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "workers.distributed.launch", str(run_dir / "job.json")],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cold = _wait(lambda: _first_train_record(list(work.glob("*.log.json"))), 300, "training", proc) - started
        _wait(lambda: (work / "epoch_2.pth").exists(), 300, "the second checkpoint", proc)
        before = set(work.glob("*.log.json"))
        pids = _train_worker_pids()
        if not pids:
            raise RuntimeError("no RayTrainWorker process found")
        os.kill(pids[-1], signal.SIGKILL)
        killed = time.monotonic()
        again = _wait(lambda: _first_train_record(list(set(work.glob("*.log.json")) - before)), 300,
                      "training to resume", proc)
        proc.wait(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"the resumed run failed (exit {proc.returncode})")
        return cold, again - killed
    finally:
        if proc.poll() is None:
            proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    from workers.data.demo import write_digits_dataset

    root = Path(tempfile.mkdtemp(prefix="trainyard-recovery-"))
    write_digits_dataset(root / "digits")
    rows = [one(root, root / "digits", i) for i in range(args.repeat)]
    print(f"\n{'':28}{'seconds':>8}")
    for cold, recovery in rows:
        print(f"{'cold start -> training':28}{cold:8.1f}   baseline")
        print(f"{'worker killed -> training':28}{recovery:8.1f}   ratio {recovery / cold:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
