"""DeepSpeed as the training strategy: the config a spec maps to, and two gloo processes (as Ray Train runs
them) training with ZeRO 0-3, checkpointing and resuming with the optimizer state, on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.support.reporters import ListReporter
from tests.support.specs import tiny_spec
from workers.engine.hooks import Hook


class RecordRunHook(Hook):
    """Writes what a run starts from (epoch, SGD momentum buffers) and ends with (this rank's weights)."""

    def __init__(self, out: str, phase: str):
        self.out, self.phase = Path(out), phase

    def _rank(self) -> int:
        return dist.get_rank() if dist.is_initialized() else 0

    def before_run(self, state) -> None:
        buffers = sum(1 for s in state.optimizer.state.values() if s.get("momentum_buffer") is not None)
        partitioned = any(p.numel() == 0 for p in state.model.module.parameters())  # ZeRO-3 holds shards
        record = {"epoch": state.epoch, "momentum_buffers": buffers, "model": type(state.model).__name__,
                  "partitioned": partitioned}
        (self.out / f"{self.phase}_rank{self._rank()}.json").write_text(json.dumps(record))

    def after_run(self, state) -> None:
        import deepspeed

        module = state.model.module
        with deepspeed.zero.GatheredParameters(list(module.parameters())):  # ZeRO-3: whole; else a no-op
            weights = {key: value.clone() for key, value in module.state_dict().items()}
        torch.save(weights, self.out / f"{self.phase}_rank{self._rank()}.pt")


def _spec(stage: int, max_epochs: int, out: str, phase: str, **deepspeed) -> dict:
    spec = tiny_spec(max_epochs=max_epochs)
    spec["data"]["samples_per_gpu"] = 2  # 12 images / 2 ranks: 3 iterations an epoch
    spec["optimizer"] = {"type": "SGD", "lr": 0.02, "momentum": 0.9, "weight_decay": 0.0005}
    spec["lr_config"] = {"policy": "fixed"}
    spec["optimizer_config"] = {"grad_clip": {"max_norm": 10.0}}
    spec["checkpoint_config"] = {"interval": 1, "max_keep_ckpts": 2}
    spec["custom_hooks"] = [{"type": "RecordRunHook", "out": out, "phase": phase}]
    # ZeRO-3 keeps parameters under 1e5 elements whole on every rank; a threshold of 0 partitions them all
    config = {"zero_optimization": {"stage3_param_persistence_threshold": 0}} if stage == 3 else None
    spec["resources"] = {"strategy": "deepspeed", "deepspeed": {"zero_stage": stage, "config": config, **deepspeed}}
    return spec


def _worker(rank: int, world_size: int, tmp: str, data_root: str, stage: int, deepspeed: dict) -> None:
    torch.set_num_threads(1)
    if world_size > 1:
        dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world_size)
    try:
        from workers.engine import train
        from workers.registry import HOOKS

        HOOKS.add("RecordRunHook", RecordRunHook, force=True)
        work = Path(tmp) / "work"
        reporter = ListReporter()
        first = train(_spec(stage, 3, tmp, "first", **deepspeed), work, data_root=data_root, seed=0, reporter=reporter,
                      console=False)
        resumed = train(_spec(stage, 4, tmp, "resumed", **deepspeed), work, data_root=data_root, seed=0, resume_from="auto",
                        console=False)
        losses = [values["loss"] for _, values, _, mode in reporter.points if mode == "train" and "loss" in values]
        out = {"first": first, "resumed": resumed, "losses": losses,
               "grad_norms": [v["grad_norm"] for _, v, _, m in reporter.points if m == "train" and "grad_norm" in v]}
        Path(tmp, f"rank{rank}.json").write_text(json.dumps(out))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _fresh_model(spec: dict):
    from workers.models import build_model

    return build_model(spec["model"])


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_it_trains_checkpoints_and_resumes_with_deepspeed_zero(stage, tiny_root, tmp_path):
    mp.start_processes(_worker, args=(2, str(tmp_path), str(tiny_root), stage, {}), nprocs=2, join=True,
                       start_method="fork")  # forked: torch and the engine already imported (see tests/unit/tools/test_apis.py)
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    work = tmp_path / "work"

    losses = torch.tensor(rank0["losses"])
    assert len(losses) == 9 and torch.isfinite(losses).all()  # 3 epochs of 3 iterations, logged every one
    assert losses[-3:].mean() < losses[:3].mean()
    assert rank0["grad_norms"] and all(g > 0 for g in rank0["grad_norms"])
    assert rank0["first"] == rank1["first"] and rank0["first"]["epoch"] in (1, 2, 3)  # the best epoch's
    assert rank0["resumed"] == rank1["resumed"] and set(rank0["resumed"]) == {"accuracy_top-1", "accuracy_top-5",
                                                                               "epoch"}

    for phase in ("first", "resumed"):
        weights0, weights1 = (torch.load(tmp_path / f"{phase}_rank{r}.pt", weights_only=True) for r in (0, 1))
        assert weights0.keys() == weights1.keys()
        assert all(torch.equal(weights0[k], weights1[k]) for k in weights0)

    # the engine's checkpoints: full weights, usual keys, loadable without unpickling code
    assert sorted(p.name for p in work.glob("epoch_*.pth")) == ["epoch_3.pth", "epoch_4.pth"]  # max_keep_ckpts=2
    assert sorted(p.name for p in (work / "deepspeed").iterdir() if p.is_dir()) == ["epoch_3", "epoch_4"]
    checkpoint = torch.load(work / "latest.pth", weights_only=True)
    assert set(checkpoint) == {"meta", "state_dict"}
    assert checkpoint["meta"]["epoch"] == 4 and checkpoint["meta"]["deepspeed_tag"] == "epoch_4"
    net = _fresh_model(_spec(stage, 1, str(tmp_path), "x"))
    net.load_state_dict(checkpoint["state_dict"], strict=True)
    final = torch.load(tmp_path / "resumed_rank0.pt", weights_only=True)
    assert all(torch.equal(checkpoint["state_dict"][k], final[k]) for k in final)

    # the first run starts afresh; the resumed one at epoch 3 with SGD's momentum restored
    starts = {phase: json.loads((tmp_path / f"{phase}_rank{r}.json").read_text())
              for phase in ("first", "resumed") for r in (0, 1)}
    assert starts["first"] == {"epoch": 0, "momentum_buffers": 0, "model": "DeepSpeedEngine",
                               "partitioned": stage == 3}
    assert starts["resumed"]["epoch"] == 3 and starts["resumed"]["momentum_buffers"] > 0
    text = "".join(p.read_text() for p in work.glob("*.log"))
    assert "resumed epoch 3, iter 9" in text and "restored DeepSpeed checkpoint epoch_3" in text
    assert "Epoch [4][3/3]" in text


def test_it_runs_deepspeed_in_one_process_without_a_process_group_in_bf16(tiny_root, tmp_path, monkeypatch):
    extensions = tmp_path / "torch_extensions"  # where DeepSpeed would JIT-build a C++ op (torch.utils.cpp_extension)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(extensions))
    mp.start_processes(_worker, args=(1, str(tmp_path), str(tiny_root), 1, {"bf16": True}), nprocs=1, join=True,
                       start_method="fork")
    result = json.loads((tmp_path / "rank0.json").read_text())

    losses = torch.tensor(result["losses"])
    assert len(losses) == 18 and torch.isfinite(losses).all()  # 12 images in batches of 2, 3 epochs
    assert json.loads((tmp_path / "resumed_rank0.json").read_text())["momentum_buffers"] > 0
    assert "world size 1" in "".join(p.read_text() for p in (tmp_path / "work").glob("*.log"))
    # DeepSpeed holds the weights (and, here, BatchNorm statistics) in bf16; a float32 model loads them
    weights = torch.load(tmp_path / "work" / "latest.pth", weights_only=True)["state_dict"]
    assert weights["backbone.conv1.weight"].dtype == torch.bfloat16
    _fresh_model(_spec(1, 1, str(tmp_path), "x")).load_state_dict(weights, strict=True)
    # nothing was compiled: a node needs no C++ compiler, and a fresh container no minute of building
    assert not extensions.exists() or not any(extensions.iterdir()), sorted(extensions.iterdir())


def test_it_maps_the_spec_onto_deepspeeds_config():
    from workers.engine.strategy import deepspeed_config

    spec = tiny_spec(optimizer_config={"type": "GradientCumulativeOptimizerHook", "cumulative_iters": 4,
                                       "grad_clip": {"max_norm": 5, "norm_type": 2}})
    spec["data"]["samples_per_gpu"] = 8
    spec["resources"] = {"strategy": "deepspeed", "num_workers": 2,
                         "deepspeed": {"zero_stage": 2, "bf16": True, "offload_optimizer": True,
                                       "config": {"zero_optimization": {"overlap_comm": False}}}}

    assert deepspeed_config(spec) == {
        "train_micro_batch_size_per_gpu": 8,
        "gradient_accumulation_steps": 4,
        "gradient_clipping": 5.0,
        "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}, "overlap_comm": False},
        "zero_allow_untested_optimizer": True,
        "zero_force_ds_cpu_optimizer": False,
        "bf16": {"enabled": True},
        "fp16": {"enabled": False},
        "steps_per_print": 2**31 - 1,
        "wall_clock_breakdown": False,
    }
    spec["data"]["train_dataloader"] = {"samples_per_gpu": 3}
    spec["optimizer_config"] = {"grad_clip": None}
    spec["resources"]["deepspeed"] = {}
    config = deepspeed_config(spec)
    assert config["train_micro_batch_size_per_gpu"] == 3 and config["gradient_accumulation_steps"] == 1
    assert "gradient_clipping" not in config and config["zero_optimization"] == {"stage": 0}


@pytest.mark.parametrize(("resources", "message"), [
    ({"strategy": "fsdp"}, "resources.strategy 'fsdp' is not supported; use one of ['ddp', 'deepspeed']"),
    ({"strategy": "deepspeed", "deepspeed": {"zero_stage": 4}}, "zero_stage must be 0, 1, 2 or 3, got 4"),
    ({"strategy": "deepspeed", "deepspeed": {"bf16": True, "fp16": True}}, "bf16 and fp16 cannot both be on"),
    ({"strategy": "deepspeed", "deepspeed": {"offload_optimizer": True}}, "needs zero_stage 1, 2 or 3"),
    ({"strategy": "deepspeed", "deepspeed": {"stage": 1}}, "unknown resources.deepspeed keys ['stage']"),
])
def test_it_refuses_settings_deepspeed_cannot_honour(resources, message):
    from workers.engine.strategy import deepspeed_config, training_strategy

    spec = tiny_spec(resources=resources)
    with pytest.raises((KeyError, ValueError)) as info:
        training_strategy(spec)
        deepspeed_config(spec)
    assert message in str(info.value)


def test_it_keeps_ddp_as_the_default_strategy():
    from workers.engine.strategy import training_strategy

    assert training_strategy(tiny_spec()) == "ddp"
    assert training_strategy(tiny_spec(resources={"num_workers": 2})) == "ddp"
