"""Small building blocks shared by the model families: norm layers by config, ConvModule, weight init.

They keep mmcv's parameter names (``ConvModule.conv`` / ``.bn``, ``norm1`` stored as ``bn1``) so that
MMClassification checkpoints load into Trainyard models with their keys unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from workers.registry import ACTIVATIONS, CONV_LAYERS, NORM_LAYERS

NORM_LAYERS.add("BN", nn.BatchNorm2d)
NORM_LAYERS.add("BN1d", nn.BatchNorm1d)
NORM_LAYERS.add("BN2d", nn.BatchNorm2d)
NORM_LAYERS.add("BN3d", nn.BatchNorm3d)
NORM_LAYERS.add("SyncBN", nn.SyncBatchNorm)
NORM_LAYERS.add("GN", nn.GroupNorm)
NORM_LAYERS.add("LN", nn.LayerNorm)
NORM_LAYERS.add("IN", nn.InstanceNorm2d)
NORM_LAYERS.add("IN1d", nn.InstanceNorm1d)
NORM_LAYERS.add("IN2d", nn.InstanceNorm2d)
NORM_LAYERS.add("IN3d", nn.InstanceNorm3d)

# mmcv's conv_cfg types; 'Conv2dAdaptivePadding' is TensorFlow's "same" padding (timm's Conv2dSame).
CONV_LAYERS.add("Conv", nn.Conv2d)
CONV_LAYERS.add("Conv2d", nn.Conv2d)
CONV_LAYERS.add_lazy("Conv2dAdaptivePadding", "timm.layers:Conv2dSame")  # timm loads only where a spec uses it

for _name in ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh",
              "Hardswish", "Hardsigmoid", "Mish"):
    ACTIVATIONS.add(_name, getattr(nn, _name))
ACTIVATIONS.add("Swish", nn.SiLU)  # mmcv's names for the same functions
ACTIVATIONS.add("HSwish", nn.Hardswish)
ACTIVATIONS.add("HSigmoid", nn.Hardsigmoid)



class DropPath(nn.Module):
    """Stochastic depth per sample (mmcv's and timm's ``DropPath``): in training, zero a sample's residual branch
    with probability ``drop_prob`` and scale the kept ones by ``1 / (1 - drop_prob)``; the identity in eval.
    Here rather than timm's so that a ResNet builds without importing timm."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"drop_prob={round(self.drop_prob, 3):0.3f}"


NORM_TYPES = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)

# mmcv's abbreviations, which become the attribute names (``bn1``, ``gn``) and so the checkpoint keys.
_NORM_ABBR = {"BN": "bn", "BN1d": "bn", "BN2d": "bn", "BN3d": "bn", "SyncBN": "bn", "GN": "gn",
              "LN": "ln", "IN": "in", "IN1d": "in", "IN2d": "in", "IN3d": "in"}


def build_norm_layer(cfg: dict, num_features: int, postfix: int | str = "") -> tuple[str, nn.Module]:
    """Build a norm layer from ``norm_cfg`` the way mmcv does.

    Args:
        cfg: ``dict(type='BN', requires_grad=True, eps=..., momentum=...)``; GN needs ``num_groups``.
        num_features: Channels to normalise.
        postfix: Appended to the abbreviation to form the attribute name (``'bn' + '1'``).

    Returns:
        ``(name, layer)``, e.g. ``('bn1', BatchNorm2d(64))``.
    """
    cfg = dict(cfg)
    layer_type = cfg.pop("type")
    layer_cls = NORM_LAYERS.get(layer_type)
    requires_grad = cfg.pop("requires_grad", True)
    cfg.setdefault("eps", 1e-5)
    if layer_type == "GN":
        layer = layer_cls(num_channels=num_features, **cfg)  # cfg holds num_groups
    else:
        layer = layer_cls(num_features, **cfg)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return f"{_NORM_ABBR.get(layer_type, layer_type.lower())}{postfix}", layer


def build_activation(cfg: dict | None) -> nn.Module:
    """Build an activation from ``act_cfg`` (``None`` gives identity)."""
    if cfg is None:
        return nn.Identity()
    cfg = dict(cfg)
    layer_cls = ACTIVATIONS.get(cfg.pop("type"))
    if layer_cls in (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid,
                     nn.Mish):
        cfg.setdefault("inplace", True)
    return layer_cls(**cfg)


_RELU = {"type": "ReLU"}


class ConvModule(nn.Module):
    """Conv -> norm -> activation, with mmcv's attribute names ``conv``, ``bn``/``gn``, ``activate``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel size.
        stride: Stride.
        padding: Padding.
        dilation: Dilation.
        groups: Groups.
        bias: Conv bias; ``'auto'`` means bias only when there is no norm layer.
        norm_cfg: Norm layer config or ``None``.
        act_cfg: Activation config (default ReLU) or ``None`` for none.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool | str = "auto",
        norm_cfg: dict | None = None,
        act_cfg: dict | None = _RELU,
    ):
        super().__init__()
        with_norm = norm_cfg is not None
        if bias == "auto":
            bias = not with_norm
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                              bias=bool(bias))
        self.norm_name = None
        if with_norm:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        self.activate = build_activation(act_cfg)

    def forward(self, x):
        x = self.conv(x)
        if self.norm_name is not None:
            x = getattr(self, self.norm_name)(x)
        return self.activate(x)


def kaiming_init(module: nn.Module, mode: str = "fan_out", nonlinearity: str = "relu", bias: float = 0.0):
    """mmcv's ``kaiming_init`` (normal distribution, ``fan_out``)."""
    nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity=nonlinearity)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def constant_init(module: nn.Module, val: float, bias: float = 0.0):
    """mmcv's ``constant_init``."""
    if getattr(module, "weight", None) is not None:
        nn.init.constant_(module.weight, val)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def normal_init(module: nn.Module, mean: float = 0.0, std: float = 1.0, bias: float = 0.0):
    """mmcv's ``normal_init``."""
    nn.init.normal_(module.weight, mean, std)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)
