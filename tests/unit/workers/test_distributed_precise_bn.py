"""Two gloo processes: RepeatAugSampler deals each sample's repeats to both ranks, and PreciseBN averages
the ranks' BN statistics so that every rank ends with the same ones."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from tests.support.engine import BNNet as _BNNet


def _worker(rank: int, world_size: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world_size)
    try:
        from workers.data import build_dataloader
        from workers.engine.hooks import update_bn_stats

        generator = torch.Generator().manual_seed(0)
        samples = [{"img": torch.randn(2, 3, 3, generator=generator) + i, "gt_label": 0} for i in range(8)]
        loader = build_dataloader(samples, 2, 0, shuffle=True, seed=5,
                                  sampler_cfg={"type": "RepeatAugSampler", "selected_round": 0})
        torch.manual_seed(0)
        model = _BNNet().train()
        with torch.no_grad():
            batches = list(loader)[:2]  # 8 samples // (2 per batch * 2 ranks)
            local = torch.stack([model.conv(b["img"]).mean(dim=(0, 2, 3)) for b in batches]).mean(0)
        ran = update_bn_stats(DistributedDataParallel(model), loader, num_samples=8)
        out = {"indices": list(loader.sampler), "ran": ran, "local": local.tolist(),
               "running_mean": model.bn.running_mean.tolist()}
        Path(tmp, f"rank{rank}.json").write_text(json.dumps(out))
    finally:
        dist.destroy_process_group()


def test_it_repeats_samples_across_ranks_and_averages_bn_statistics(tmp_path):
    mp.start_processes(_worker, args=(2, str(tmp_path)), nprocs=2, join=True, start_method="fork")
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))

    # 8 samples x 3 repeats dealt to 2 ranks, each keeping 8 / 2: the first sample goes to both ranks
    assert len(rank0["indices"]) == len(rank1["indices"]) == 4
    assert rank0["indices"][0] == rank1["indices"][0] == rank0["indices"][1]
    assert rank0["ran"] == rank1["ran"] == 2
    expected = (torch.tensor(rank0["local"]) + torch.tensor(rank1["local"])) / 2
    assert torch.allclose(torch.tensor(rank0["running_mean"]), expected, atol=1e-6)
    assert rank0["running_mean"] == rank1["running_mean"]
