"""Two gloo processes (as Ray Train runs them) train one model and score the whole val set."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.support.reporters import ListReporter
from tests.support.specs import tiny_spec


def _worker(rank: int, world_size: int, tmp: str, data_root: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world_size)
    try:
        from workers.data import build_dataloader, build_dataset
        from workers.engine import predict, train
        from workers.models import build_model

        reporter = ListReporter()
        spec = tiny_spec(max_epochs=1)
        best = train(spec, Path(tmp) / "work", data_root=data_root, seed=0, reporter=reporter, console=False)
        val = build_dataset(spec["data"]["val"], {"test_mode": True}, data_root=data_root)
        loader = build_dataloader(val, 2, 0, shuffle=False)
        net = build_model(spec["model"])
        net.load_state_dict(torch.load(Path(tmp) / "work" / "latest.pth", weights_only=True)["state_dict"])
        scores = predict(net, loader, torch.device("cpu"))
        out = {"rank": rank, "best": best, "local_batches": len(loader), "reporter_lines": len(reporter.lines),
               "scores": None if scores is None else list(scores.shape)}
        Path(tmp, f"rank{rank}.json").write_text(json.dumps(out))
    finally:
        dist.destroy_process_group()


def test_it_trains_with_ddp_and_scores_the_whole_val_set(tiny_root, tmp_path):
    mp.start_processes(_worker, args=(2, str(tmp_path), str(tiny_root)), nprocs=2, join=True, start_method="fork")
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))

    assert rank0["scores"] == [9, 3]  # 9 val images: 5 + 5 with one repeat, gathered and trimmed
    assert rank1["scores"] is None
    assert rank0["local_batches"] == 3  # each rank reads ceil(9 / 2) = 5 images in batches of 2
    assert rank0["best"] == rank1["best"] and set(rank0["best"]) == {"accuracy_top-1", "accuracy_top-5", "epoch"}
    assert rank0["reporter_lines"] > 0 and rank1["reporter_lines"] == 0
    logs = list((tmp_path / "work").glob("*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert "world size 2" in text and "Epoch [1][2/2]" in text  # 12 images / 2 ranks / 4 per batch
