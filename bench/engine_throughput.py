"""The engine's training throughput against a minimal hand-written PyTorch loop, in the same process.

Both train the same model (a narrow ResNet_CIFAR-18 at 32 px, or ``--model resnet18`` for the full
width) on the same random batches held in memory, with the same SGD optimizer, on the CPU. Repeats
alternate engine / plain so that machine load drifts hit both alike; the median images/s of each is
printed with their ratio (goal: engine / plain >= 0.97), and the median of the per-pair ratios, which
resists load changing between pairs better. On a shared machine the timings swing; the script also
measures the engine's own cost per iteration with a nearly free model (``--overhead-iters``), which
divided by the real model's iteration time bounds the slowdown independently of that noise.

    .venv/bin/python bench/engine_throughput.py --iters 20 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.engine import OptimizerHook, TrainState, build_lr_schedule, train_one_epoch  # noqa: E402
from workers.engine.logger import RunLogger  # noqa: E402
from workers.models import build_model  # noqa: E402


class InMemoryBatches:
    """Pre-built ``{'img', 'gt_label'}`` batches; what the engine needs of a DataLoader (len, iter, sampler)."""

    sampler = None

    def __init__(self, batches: list[dict]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def _model(kind: str) -> torch.nn.Module:
    width = 16 if kind == "tiny" else 64
    cfg = {"type": "ImageClassifier",
           "backbone": {"type": "ResNet_CIFAR", "depth": 18, "stem_channels": width, "base_channels": width,
                        "num_stages": 4, "out_indices": (3,), "style": "pytorch"},
           "neck": {"type": "GlobalAveragePooling"},
           "head": {"type": "LinearClsHead", "num_classes": 10, "in_channels": width * 8,
                    "loss": {"type": "CrossEntropyLoss", "loss_weight": 1.0}, "topk": (1, 5)}}
    return build_model(cfg)


class _FreeModel(torch.nn.Module):
    """Almost no compute: what remains of a timed iteration is the loop's own cost."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 10)

    def forward(self, img, return_loss=True, gt_label=None):
        logits = self.fc(img[:, :, 0, 0])
        return {"loss": torch.nn.functional.cross_entropy(logits, gt_label)}


def _optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)


def run_plain(model, optimizer, batches: InMemoryBatches) -> float:
    """The reference: forward, loss, backward, step. Returns seconds."""
    model.train()
    start = time.perf_counter()
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        losses = model(batch["img"], return_loss=True, gt_label=batch["gt_label"])
        losses["loss"].backward()
        optimizer.step()
    return time.perf_counter() - start


def run_engine(model, optimizer, batches: InMemoryBatches, log: RunLogger, log_interval: int) -> float:
    """One epoch of ``train_one_epoch`` with the default hooks (lr schedule, logging, meters). Returns seconds."""
    state = TrainState(model=model, optimizer=optimizer, max_epochs=1)
    schedule = build_lr_schedule({"policy": "step", "step": [1], "warmup": "linear", "warmup_iters": 5})
    start = time.perf_counter()
    train_one_epoch(state, batches, optimizer_hook=OptimizerHook(), lr_schedule=schedule,
                    device=torch.device("cpu"), log=log, log_interval=log_interval)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "resnet18"), default="tiny")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=20, help="iterations per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each, alternating")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: 1)")
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--overhead-iters", type=int, default=500, help="iterations of the overhead probe")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    batches = InMemoryBatches([{"img": torch.randn(args.batch, 3, 32, 32),
                                "gt_label": torch.randint(0, 10, (args.batch,))} for _ in range(args.iters)])
    model = _model(args.model)
    optimizer = _optimizer(model)
    with tempfile.TemporaryDirectory() as work_dir:
        log = RunLogger(work_dir, "bench", console=False)
        try:
            run_plain(model, optimizer, InMemoryBatches(batches.batches[:3]))  # warm up allocators
            run_engine(model, optimizer, InMemoryBatches(batches.batches[:3]), log, args.log_interval)
            plain, engine = [], []
            for _ in range(args.repeats):
                plain.append(run_plain(model, optimizer, batches))
                engine.append(run_engine(model, optimizer, batches, log, args.log_interval))
            free = _FreeModel()
            free_optimizer = _optimizer(free)
            probe = InMemoryBatches([batches.batches[i % len(batches)] for i in range(args.overhead_iters)])
            free_plain, free_engine = [], []
            for _ in range(3):
                free_plain.append(run_plain(free, free_optimizer, probe))
                free_engine.append(run_engine(free, free_optimizer, probe, log, args.log_interval))
        finally:
            log.close()
    images = args.batch * args.iters
    plain_ips, engine_ips = images / statistics.median(plain), images / statistics.median(engine)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"model {args.model}, batch {args.batch}, {args.iters} iters x {args.repeats} repeats, "
          f"{args.threads} thread(s), load average {load:.2f}")
    print(f"plain loop: {plain_ips:8.1f} images/s   (runs: {', '.join(f'{images / t:.1f}' for t in plain)})")
    print(f"engine:     {engine_ips:8.1f} images/s   (runs: {', '.join(f'{images / t:.1f}' for t in engine)})")
    print(f"ratio engine / plain: {engine_ips / plain_ips:.3f} (goal >= 0.97); "
          f"median of pair ratios {statistics.median(p / e for p, e in zip(plain, engine, strict=True)):.3f}")
    overhead = (min(free_engine) - min(free_plain)) / args.overhead_iters
    iteration = min(plain) / args.iters
    print(f"engine overhead: {overhead * 1e6:.0f} us/iteration (free model, best of 3) vs {iteration * 1e3:.1f} ms "
          f"a plain iteration -> ratio bound {iteration / (iteration + max(overhead, 0.0)):.3f}")


if __name__ == "__main__":
    main()
