"""How the model trains across processes: ``resources.strategy`` of a spec, ``'ddp'`` (the default) or
``'deepspeed'`` (DeepSpeed's ZeRO, https://www.deepspeed.ai/docs/config-json/).

``resources = dict(strategy='deepspeed', deepspeed=dict(zero_stage=2, offload_optimizer=False, bf16=False,
fp16=False, config={...}))``. :func:`deepspeed_config` turns the spec into DeepSpeed's config:

- ``train_micro_batch_size_per_gpu``: ``data.samples_per_gpu`` (``data.train_dataloader`` overrides it);
- ``gradient_accumulation_steps``: ``optimizer_config.cumulative_iters`` (default 1);
- ``gradient_clipping``: ``optimizer_config.grad_clip.max_norm`` (DeepSpeed clips the L2 norm only);
- ``zero_optimization.stage``: ``zero_stage`` (0-3); ``offload_optimizer`` puts the optimizer on the CPU;
- ``bf16.enabled`` / ``fp16.enabled``: ``bf16`` / ``fp16`` (the spec's mmcv ``fp16`` section is refused,
  to keep one switch);
- ``zero_allow_untested_optimizer``: the engine passes the torch optimizer ``build_optimizer`` made
  (paramwise_cfg and all), which DeepSpeed's ZeRO otherwise only accepts for its own optimizers;
- ``config``: a dict merged over all of the above (any key of DeepSpeed's config).

Two differences from DDP are evened out: DeepSpeed does not broadcast buffers, so rank 0's BatchNorm
statistics are broadcast before evaluation and checkpoints (:func:`broadcast_buffers`; DDP's
``broadcast_buffers=True`` gives the same there); and with bf16/fp16 DeepSpeed casts the parameters but
not the buffers, which ``batch_norm`` refuses, so floating buffers take their layer's dtype (the
checkpoint's ``state_dict`` is then bf16/fp16; a float32 model loads it).

DeepSpeed is imported only when a spec asks for it. Without CUDA (or for a CPU run) its CPU accelerator
is chosen through DeepSpeed's ``DS_ACCELERATOR=cpu`` override, set before the import.
DeepSpeed's engine insists on ``LOCAL_RANK`` (its launcher, torchrun and Ray Train set it); it is taken
from the process group when missing.

Checkpoints (see ``loop.py``): every rank calls :func:`save_deepspeed_checkpoint`, which writes
DeepSpeed's own checkpoint (weights, optimizer partitions) to ``<checkpoint folder>/deepspeed/<tag>``,
``<tag>`` being the name of the ``epoch_N.pth`` / ``iter_N.pth`` written beside it; that file holds the
full weights (gathered to rank 0 under ZeRO-3, :func:`full_state_dict`) and ``meta['deepspeed_tag']``, not
``optimizer``. Resuming loads the weights from the ``.pth`` and then, when its tag's folder exists, the
optimizer state through ``engine.load_checkpoint`` (:func:`load_deepspeed_checkpoint`).
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn

from workers.engine.dist import broadcast_object, get_dist_info, is_distributed
from workers.engine.hooks import OptimizerHook

__all__ = ["STRATEGIES", "DeepSpeedOptimizerHook", "broadcast_buffers", "deepspeed_config", "deepspeed_settings", "full_state_dict",
           "is_deepspeed_engine", "load_deepspeed_checkpoint", "prune_deepspeed_checkpoints",
           "save_deepspeed_checkpoint", "init_single_process_group", "training_strategy", "wrap_deepspeed"]

STRATEGIES = ("ddp", "deepspeed")
_DEEPSPEED_DEFAULTS = {"zero_stage": 0, "offload_optimizer": False, "bf16": False, "fp16": False, "config": None}
_STEP_HOOKS = ("OptimizerHook", "DistOptimizerHook", "GradientCumulativeOptimizerHook")


def training_strategy(spec: dict) -> str:
    """``resources.strategy`` of ``spec``: ``'ddp'`` (default) or ``'deepspeed'``."""
    strategy = (spec.get("resources") or {}).get("strategy") or "ddp"
    if strategy not in STRATEGIES:
        raise ValueError(f"resources.strategy {strategy!r} is not supported; use one of {list(STRATEGIES)}")
    return strategy


def deepspeed_settings(spec: dict) -> dict:
    """``resources.deepspeed`` of ``spec`` with its defaults, checked."""
    given = dict((spec.get("resources") or {}).get("deepspeed") or {})
    unknown = set(given) - set(_DEEPSPEED_DEFAULTS)
    if unknown:
        raise KeyError(f"unknown resources.deepspeed keys {sorted(unknown)}; known: {sorted(_DEEPSPEED_DEFAULTS)}")
    settings = {**_DEEPSPEED_DEFAULTS, **given}
    if settings["zero_stage"] not in (0, 1, 2, 3):
        raise ValueError(f"resources.deepspeed.zero_stage must be 0, 1, 2 or 3, got {settings['zero_stage']!r}")
    if settings["bf16"] and settings["fp16"]:
        raise ValueError("resources.deepspeed: bf16 and fp16 cannot both be on")
    if settings["offload_optimizer"] and settings["zero_stage"] == 0:
        raise ValueError("resources.deepspeed.offload_optimizer needs zero_stage 1, 2 or 3 (ZeRO-Offload)")
    return settings


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def deepspeed_config(spec: dict) -> dict:
    """DeepSpeed's config dict for ``spec`` (the mapping is in the module docstring).

    Raises:
        ValueError: For an ``optimizer_config`` or ``fp16`` section DeepSpeed cannot honour.
    """
    settings = deepspeed_settings(spec)
    if spec.get("fp16") is not None:
        raise ValueError("with resources.strategy='deepspeed' set resources.deepspeed.fp16 (or bf16) instead of "
                         "the spec's fp16 section")
    data = spec["data"]
    micro_batch = (data.get("train_dataloader") or {}).get("samples_per_gpu", data.get("samples_per_gpu"))
    if micro_batch is None:
        raise KeyError("data.samples_per_gpu is missing")
    optimizer_config = dict(spec.get("optimizer_config") or {})
    kind = optimizer_config.pop("type", "OptimizerHook")
    if kind not in _STEP_HOOKS:
        raise ValueError(f"optimizer_config.type {kind!r} cannot be used with DeepSpeed; use one of {list(_STEP_HOOKS)}")
    cumulative_iters = int(optimizer_config.get("cumulative_iters", 1))
    if cumulative_iters <= 0:
        raise ValueError(f"cumulative_iters only accepts positive int, but got {cumulative_iters!r}")
    zero: dict[str, Any] = {"stage": settings["zero_stage"]}
    config: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": int(micro_batch),
        "gradient_accumulation_steps": cumulative_iters,
        "zero_optimization": zero,
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": bool(settings["bf16"])},
        "fp16": {"enabled": bool(settings["fp16"])},
        "steps_per_print": 2**31 - 1,  # the engine logs; DeepSpeed's own step prints stay quiet
        "wall_clock_breakdown": False,
    }
    grad_clip = optimizer_config.get("grad_clip")
    if grad_clip:
        if float(grad_clip.get("norm_type", 2)) != 2:
            raise ValueError("DeepSpeed clips the L2 norm only: optimizer_config.grad_clip.norm_type must be 2")
        config["gradient_clipping"] = float(grad_clip["max_norm"])
    if settings["offload_optimizer"]:
        zero["offload_optimizer"] = {"device": "cpu"}
        config["zero_force_ds_cpu_optimizer"] = False  # our torch optimizer, not DeepSpeedCPUAdam
    if settings["config"]:
        config = _merge(config, dict(settings["config"]))
    return config


def _import_deepspeed(device: torch.device):
    # DeepSpeed picks its accelerator once, at import; a CPU run on a CUDA machine must pick the CPU one too
    if device.type == "cpu" or not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed
    import deepspeed.comm.torch  # noqa: F401 - loaded; as an attribute, deepspeed.comm.torch is torch itself

    # DeepSpeed's communication backend JIT-compiles its shared-memory kernels (ninja and a C++ compiler, ~45 s
    # of two cores, on every node and in every fresh container) when it first starts on the CPU accelerator.
    # Those kernels serve only inference_all_reduce (tensor-parallel inference); training's all_reduce always
    # goes through the process group (gloo here). So a node needs no compiler and a run no build: never load them.
    sys.modules["deepspeed.comm.torch"].build_shm_op = _no_shm_op
    return deepspeed


def _no_shm_op():
    return None


def init_single_process_group() -> None:
    """A 1-process gloo group, for DeepSpeed without Ray or a launcher (``trainyard train``): its engine
    needs ``torch.distributed`` even for one process. The group stays for the life of the process, since
    DeepSpeed keeps the groups it derives from it in module globals (``deepspeed.utils.groups``) that a
    destroyed group would leave dangling for the next run."""
    if not is_distributed():
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)


def wrap_deepspeed(model: nn.Module, optimizer: torch.optim.Optimizer, config: dict, device: torch.device):
    """``deepspeed.initialize`` of ``model`` with ``optimizer`` (whose ``param_groups`` the engine keeps,
    so the lr and momentum schedules still set them) in the existing process group.

    Returns:
        The ``DeepSpeedEngine`` (an ``nn.Module``; ``engine.module`` is ``model``).
    """
    if not is_distributed():
        raise RuntimeError("strategy 'deepspeed' needs a torch.distributed process group (Ray Train's, or "
                           "init_single_process_group())")
    rank, world_size = get_dist_info()
    # DeepSpeed asserts LOCAL_RANK is set (its launcher, torchrun and Ray Train set it)
    os.environ.setdefault("LOCAL_RANK", str(device.index if device.type == "cuda" and device.index is not None
                                            else rank))
    os.environ.setdefault("RANK", str(rank))
    os.environ.setdefault("WORLD_SIZE", str(world_size))
    deepspeed = _import_deepspeed(device)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=copy.deepcopy(config),
                                      dist_init_required=False)
    _match_buffer_dtypes(engine.module)
    return engine


def _match_buffer_dtypes(model: nn.Module) -> None:
    # DeepSpeed's bf16/fp16 casts parameters but not buffers, and batch_norm refuses bf16 weights with
    # float32 running statistics (seen on the CPU); the statistics follow their layer's parameters
    for module in model.modules():
        param = next(module.parameters(recurse=False), None)
        if param is None or not param.is_floating_point():
            continue
        for name, buffer in module.named_buffers(recurse=False):
            if buffer is not None and buffer.is_floating_point() and buffer.dtype != param.dtype:
                module._buffers[name] = buffer.to(param.dtype)


def is_deepspeed_engine(model: nn.Module) -> bool:
    """Whether ``model`` is a ``DeepSpeedEngine`` (without importing DeepSpeed)."""
    return any(cls.__name__ == "DeepSpeedEngine" for cls in type(model).__mro__)


class DeepSpeedOptimizerHook(OptimizerHook):
    """The optimizer step through the DeepSpeed engine: ``engine.backward(loss)`` (loss scaling and the
    division by ``gradient_accumulation_steps``) and ``engine.step()`` (clipping, the optimizer step at an
    accumulation boundary, zeroing the gradients). ``model`` of :meth:`step` is the engine.

    Unlike mmcv's ``GradientCumulativeOptimizerHook`` the last, shorter accumulation group of a run is
    divided by ``gradient_accumulation_steps`` too, and not stepped.

    Args:
        config: DeepSpeed's config (:func:`deepspeed_config`).
    """

    def __init__(self, config: dict):
        super().__init__(grad_clip={"max_norm": config["gradient_clipping"]} if config.get("gradient_clipping")
                         else None)
        self.cumulative_iters = int(config.get("gradient_accumulation_steps", 1))
        self.dtype = (torch.bfloat16 if config.get("bf16", {}).get("enabled")
                      else torch.float16 if config.get("fp16", {}).get("enabled") else None)
        self.amp = self.dtype is not None

    def autocast(self, device: torch.device):
        """bf16/fp16 autocast when DeepSpeed holds the model in that precision (inputs stay float32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, model: nn.Module, *,
             iteration: int = 0, max_iters: int | None = None) -> float | None:
        model.backward(loss)
        due = self.grad_clip is not None and (iteration + 1) % self.cumulative_iters == 0
        own_norm = None
        if due and model.zero_optimization_stage() == 0 and not self.amp:
            # DeepSpeed clips ZeRO-0 fp32 gradients without keeping the norm; they are all-reduced by now
            grads = [p.grad for p in model.module.parameters() if p.grad is not None]
            own_norm = float(torch.nn.utils.get_total_norm(grads)) if grads else None
        model.step()
        if not due:
            return None
        norm = model.get_global_grad_norm()
        return own_norm if norm is None else float(norm)


def broadcast_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank of a DeepSpeed engine; a no-op for
    other models. DDP broadcasts them before every forward (``broadcast_buffers=True``) and DeepSpeed not
    at all, so each rank's statistics would follow its own batches; syncing them before evaluation and
    checkpoints gives what DDP gives there (rank 0's own statistics)."""
    if not is_deepspeed_engine(model) or not is_distributed():
        return
    for buffer in model.module.buffers():
        dist.broadcast(buffer.data, src=0)


def full_state_dict(engine: nn.Module) -> dict | None:
    """The model's full weights on CPU on rank 0 (``None`` elsewhere); every rank must call it, since
    under ZeRO-3 the parameters are gathered layer by layer (``_zero3_consolidated_16bit_state_dict``)."""
    if engine.zero_optimization_stage() == 3:
        weights = engine._zero3_consolidated_16bit_state_dict()
    else:
        weights = engine.module.state_dict() if get_dist_info()[0] == 0 else None
    if weights is None:
        return None
    return {key: value.detach().cpu() for key, value in weights.items()}


def save_deepspeed_checkpoint(engine: nn.Module, folder: Path, tag: str) -> None:
    """DeepSpeed's checkpoint of ``engine`` in ``folder/tag`` (every rank writes its partition)."""
    engine.save_checkpoint(str(folder), tag=tag)


def _load_partition(path: str, map_location=None):
    """One file of a DeepSpeed checkpoint, read ``weights_only``: tensors, plain containers and the few
    DeepSpeed types its partitions hold (loss scalers, the ZeRO stage, fragment addresses), nothing else."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    with torch.serialization.safe_globals([LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]):
        return torch.load(path, map_location=map_location, weights_only=True)


def load_deepspeed_checkpoint(engine: nn.Module, folder: Path, tag: str | None) -> bool:
    """Restore weights and optimizer state from ``folder/tag`` when rank 0 sees it; return whether it did."""
    found = broadcast_object(bool(tag) and (Path(folder) / str(tag)).is_dir() if get_dist_info()[0] == 0 else None)
    if not found:
        return False
    checkpoints = getattr(engine, "checkpoint_engine", None)
    if checkpoints is not None:  # DeepSpeed's own reader unpickles anything (weights_only=False)
        checkpoints.load = _load_partition
    path, _ = engine.load_checkpoint(str(folder), tag=tag, load_optimizer_states=True,
                                     load_lr_scheduler_states=False)
    if path is None:
        raise RuntimeError(f"DeepSpeed could not load its checkpoint {tag!r} from {folder}")
    return True


def prune_deepspeed_checkpoints(folder: Path) -> None:
    """Remove the DeepSpeed checkpoints in ``folder/deepspeed`` whose ``<tag>.pth`` is gone from ``folder``
    (``max_keep_ckpts``); rank 0 calls it."""
    root = Path(folder) / "deepspeed"
    if not root.is_dir():
        return
    for tag in root.iterdir():
        if tag.is_dir() and tag.name.startswith(("epoch_", "iter_")) and not (Path(folder) / f"{tag.name}.pth").exists():
            shutil.rmtree(tag, ignore_errors=True)
