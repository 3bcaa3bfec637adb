"""Optimizers by name, mmcv's ``DefaultOptimizerConstructor`` rules for ``paramwise_cfg`` (seed 9.1, 9.4), and
optimizer constructors by name (``optimizer.constructor``, seed 9.6.2)."""

from __future__ import annotations

import inspect
import warnings

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from workers.registry import OPTIMIZER_BUILDERS, OPTIMIZERS

__all__ = ["DefaultOptimizerConstructor", "build_optimizer", "build_param_groups"]

# Every optimizer torch ships, under its class name ("SGD", "AdamW", ...).
for _name, _cls in vars(torch.optim).items():
    if inspect.isclass(_cls) and issubclass(_cls, torch.optim.Optimizer) and _cls is not torch.optim.Optimizer:
        OPTIMIZERS.add(_name, _cls)



@OPTIMIZERS.register("Lamb")
def lamb(params, **kwargs) -> torch.optim.Optimizer:
    """LAMB (You et al., "Large Batch Optimization for Deep Learning", 2020), MMCls 0.25's ``Lamb``, whose
    arguments and defaults it shares (``lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01,
    grad_averaging=True, max_grad_norm=1.0, trust_clip=False, always_adapt=False``): timm's
    ``timm.optim.Lamb``, from which MMCls copied its own. Imported on use, so timm loads only for it."""
    from timm.optim import Lamb

    return Lamb(params, **kwargs)


_NORMS = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)
_PARAMWISE_KEYS = {"custom_keys", "bias_lr_mult", "bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult",
                   "bypass_duplicate", "dcn_offset_lr_mult"}


def build_param_groups(model: nn.Module, base_lr: float, base_wd: float | None, paramwise_cfg: dict) -> list[dict]:
    """One param group per parameter with the lr / weight decay that ``paramwise_cfg`` gives it.

    The rules are mmcv 1.x's: a name containing one of ``custom_keys`` (longest key first) takes that
    key's ``lr_mult``/``decay_mult`` and nothing else; otherwise biases (not of norms) get
    ``bias_lr_mult``, norm parameters ``norm_decay_mult``, depth-wise conv weights
    ``dwconv_decay_mult`` and other biases ``bias_decay_mult``.
    """
    unknown = set(paramwise_cfg) - _PARAMWISE_KEYS
    if unknown:
        raise KeyError(f"unknown paramwise_cfg keys {sorted(unknown)}; known: {sorted(_PARAMWISE_KEYS)}")
    custom_keys = paramwise_cfg.get("custom_keys", {})
    sorted_keys = sorted(sorted(custom_keys), key=len, reverse=True)
    bias_lr_mult = paramwise_cfg.get("bias_lr_mult", 1.0)
    bias_decay_mult = paramwise_cfg.get("bias_decay_mult", 1.0)
    norm_decay_mult = paramwise_cfg.get("norm_decay_mult", 1.0)
    dwconv_decay_mult = paramwise_cfg.get("dwconv_decay_mult", 1.0)
    bypass_duplicate = paramwise_cfg.get("bypass_duplicate", False)
    groups: list[dict] = []
    seen: set[int] = set()

    def add(module: nn.Module, prefix: str) -> None:
        is_norm = isinstance(module, _NORMS)
        is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
        for name, param in module.named_parameters(recurse=False):
            group: dict = {"params": [param]}
            if id(param) in seen:
                if bypass_duplicate:
                    warnings.warn(f"{prefix} is duplicate. It is skipped since bypass_duplicate=True", stacklevel=2)
                    continue
                raise ValueError(f"parameter {prefix}.{name} appears twice; set bypass_duplicate=True")
            seen.add(id(param))
            if not param.requires_grad:
                groups.append(group)
                continue
            full_name = f"{prefix}.{name}" if prefix else name
            for key in sorted_keys:
                if key in full_name:
                    group["lr"] = base_lr * custom_keys[key].get("lr_mult", 1.0)
                    if base_wd is not None:
                        group["weight_decay"] = base_wd * custom_keys[key].get("decay_mult", 1.0)
                    break
            else:
                if name == "bias" and not is_norm:
                    group["lr"] = base_lr * bias_lr_mult
                if base_wd is not None:
                    if is_norm:
                        group["weight_decay"] = base_wd * norm_decay_mult
                    elif is_dwconv:
                        group["weight_decay"] = base_wd * dwconv_decay_mult
                    elif name == "bias":
                        group["weight_decay"] = base_wd * bias_decay_mult
            groups.append(group)
        for child_name, child in module.named_children():
            add(child, f"{prefix}.{child_name}" if prefix else child_name)

    add(model, "")
    return groups


@OPTIMIZER_BUILDERS.register()
class DefaultOptimizerConstructor:
    """mmcv 1.x's default constructor: ``optimizer_cfg['type']`` over the model's parameters, one param group
    per parameter when ``paramwise_cfg`` is given (:func:`build_param_groups`).

    A custom constructor registered in ``OPTIMIZER_BUILDERS`` takes the same two arguments and is called with
    the model (seed 9.6.2)::

        @OPTIMIZER_BUILDERS.register()
        class MyOptimizerConstructor:
            def __init__(self, optimizer_cfg, paramwise_cfg=None): ...
            def __call__(self, model): return my_optimizer

    Args:
        optimizer_cfg: The ``optimizer`` section without ``constructor`` and ``paramwise_cfg``.
        paramwise_cfg: The per-parameter rules, or ``None``.
    """

    def __init__(self, optimizer_cfg: dict, paramwise_cfg: dict | None = None):
        if not isinstance(optimizer_cfg, dict) or "type" not in optimizer_cfg:
            raise TypeError(f"optimizer_cfg must be a dict with a 'type' key, got {optimizer_cfg!r}")
        self.optimizer_cfg = dict(optimizer_cfg)
        self.paramwise_cfg = dict(paramwise_cfg) if paramwise_cfg else None

    def __call__(self, model: nn.Module) -> torch.optim.Optimizer:
        cfg = dict(self.optimizer_cfg)
        optimizer_cls = OPTIMIZERS.get(cfg.pop("type"))
        if not self.paramwise_cfg:
            return optimizer_cls(model.parameters(), **cfg)
        if "lr" not in cfg:
            raise KeyError("paramwise_cfg needs optimizer.lr")
        groups = build_param_groups(model, cfg["lr"], cfg.get("weight_decay"), self.paramwise_cfg)
        return optimizer_cls(groups, **cfg)


def build_optimizer(model: nn.Module, cfg: dict) -> torch.optim.Optimizer:
    """Build the optimizer of ``cfg`` as mmcv 1.x's ``build_optimizer``: the constructor named by
    ``cfg['constructor']`` (default ``DefaultOptimizerConstructor``), given the rest of ``cfg`` and its
    ``paramwise_cfg``, is called with the model.

    Args:
        model: The model (unwrapped, not DDP).
        cfg: E.g. ``dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, paramwise_cfg=...)``, optionally
            with ``constructor='MyOptimizerConstructor'`` (registered in ``OPTIMIZER_BUILDERS``).

    Raises:
        workers.registry.UnknownTypeError: an unknown constructor or optimizer type (with close names).
        TypeError: a constructor that does not return a ``torch.optim.Optimizer``.
    """
    cfg = dict(cfg)
    paramwise_cfg = cfg.pop("paramwise_cfg", None)
    constructor_name = cfg.pop("constructor", None) or "DefaultOptimizerConstructor"
    constructor = OPTIMIZER_BUILDERS.get(constructor_name)(optimizer_cfg=cfg, paramwise_cfg=paramwise_cfg)
    optimizer = constructor(model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer constructor {constructor_name!r} returned {type(optimizer).__name__}, "
                        "not a torch.optim.Optimizer")
    return optimizer
