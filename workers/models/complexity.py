"""Parameter and FLOP counts with the semantics of mmcv 1.x's ``get_model_complexity_info``.

MMClassification 0.25's ``tools/analysis_tools/get_flops.py`` (seed section 3.4.1 / 52.3) builds the
classifier, points ``forward`` at ``extract_feat`` (backbone and neck: the head's fc is in the parameter
count but not in the FLOPs) and runs one ``(1, C, H, W)`` input through mmcv's counter, which puts a
forward hook on each module of a known type and adds:

- convolutions: ``prod(kernel) * in_channels / groups * out_channels * output positions``, plus one
  per output element for the bias; transposed convolutions count per *input* position;
- ``Linear``: ``numel(input) * out_features`` (no bias term);
- BatchNorm / InstanceNorm / GroupNorm / LayerNorm: ``numel(input)``, twice that when affine;
- ReLU, ReLU6, LeakyReLU, PReLU, ELU: ``numel(output)`` (GELU, SiLU, sigmoid are not counted);
- max / average pooling, adaptive or not: ``numel(input)``; ``Upsample``: ``numel(output[0])``.

Functional operations (attention matmuls, additions, ``F.interpolate``) are not counted, which is why the
seed's figures for transformers are below the analytical ones. Parameters are those with
``requires_grad``, as mmcv counts them.

The forward runs on the ``meta`` device, so even the largest models count in well under a second and no
memory is allocated for activations. Unlike mmcv, a module is matched by the closest class in its MRO,
so subclasses of the counted layers (timm's ``BatchNormAct2d``, a ``Conv2d`` with same-padding) count too.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn as nn

__all__ = ["build_meta_model", "count_params", "format_complexity", "get_model_complexity_info"]


def _numel(shape) -> int:
    return int(math.prod(shape))


def _conv_flops(module: nn.modules.conv._ConvNd, inputs, output) -> int:
    kernel = _numel(module.kernel_size)
    per_position = kernel * module.in_channels * (module.out_channels // module.groups)
    positions = output.shape[0] * _numel(output.shape[2:])
    flops = per_position * positions
    if module.bias is not None:
        flops += module.out_channels * positions
    return flops


def _deconv_flops(module: nn.modules.conv._ConvTransposeNd, inputs, output) -> int:
    x = inputs[0]
    kernel = _numel(module.kernel_size)
    per_position = kernel * module.in_channels * (module.out_channels // module.groups)
    flops = per_position * x.shape[0] * _numel(x.shape[2:])
    if module.bias is not None:
        flops += module.out_channels * output.shape[0] * _numel(output.shape[2:])
    return flops


def _linear_flops(module: nn.Linear, inputs, output) -> int:
    return _numel(inputs[0].shape) * output.shape[-1]


def _norm_flops(module: nn.Module, inputs, output) -> int:
    flops = _numel(inputs[0].shape)
    if getattr(module, "affine", False) or getattr(module, "elementwise_affine", False):
        flops *= 2
    return flops


def _relu_flops(module: nn.Module, inputs, output) -> int:
    return output.numel()


def _pool_flops(module: nn.Module, inputs, output) -> int:
    return _numel(inputs[0].shape)


def _upsample_flops(module: nn.Module, inputs, output) -> int:
    return output[0].numel()


# mmcv 1.x's ``get_modules_mapping()``; keys are matched against the module's MRO (closest first).
_COUNTERS: dict[type, Callable[..., int]] = {
    nn.Conv1d: _conv_flops, nn.Conv2d: _conv_flops, nn.Conv3d: _conv_flops,
    nn.ConvTranspose1d: _deconv_flops, nn.ConvTranspose2d: _deconv_flops, nn.ConvTranspose3d: _deconv_flops,
    nn.ReLU: _relu_flops, nn.PReLU: _relu_flops, nn.ELU: _relu_flops, nn.LeakyReLU: _relu_flops,
    nn.ReLU6: _relu_flops,
    nn.MaxPool1d: _pool_flops, nn.MaxPool2d: _pool_flops, nn.MaxPool3d: _pool_flops,
    nn.AvgPool1d: _pool_flops, nn.AvgPool2d: _pool_flops, nn.AvgPool3d: _pool_flops,
    nn.AdaptiveMaxPool1d: _pool_flops, nn.AdaptiveMaxPool2d: _pool_flops, nn.AdaptiveMaxPool3d: _pool_flops,
    nn.AdaptiveAvgPool1d: _pool_flops, nn.AdaptiveAvgPool2d: _pool_flops, nn.AdaptiveAvgPool3d: _pool_flops,
    nn.BatchNorm1d: _norm_flops, nn.BatchNorm2d: _norm_flops, nn.BatchNorm3d: _norm_flops,
    nn.SyncBatchNorm: _norm_flops, nn.GroupNorm: _norm_flops, nn.LayerNorm: _norm_flops,
    nn.InstanceNorm1d: _norm_flops, nn.InstanceNorm2d: _norm_flops, nn.InstanceNorm3d: _norm_flops,
    nn.Linear: _linear_flops,
    nn.Upsample: _upsample_flops,
}


def _counter_for(module: nn.Module) -> Callable[..., int] | None:
    for cls in type(module).__mro__:
        if cls in _COUNTERS:
            return _COUNTERS[cls]
    return None


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Parameters of ``model``; by default only those with ``requires_grad``, as mmcv counts them.

    Args:
        model: Any module (on any device, ``meta`` included).
        trainable_only: Skip frozen parameters (mmcv's ``get_model_parameters_number``).
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _on_meta(model: nn.Module) -> nn.Module:
    """``model`` itself if it is already on ``meta``, else a meta copy (the original is left untouched)."""
    tensors = list(model.parameters()) + list(model.buffers())
    if all(t.is_meta for t in tensors):
        return model
    memo: dict[int, torch.Tensor] = {}
    for param in model.parameters():
        memo[id(param)] = nn.Parameter(torch.empty_like(param, device="meta"), requires_grad=param.requires_grad)
    for buffer in model.buffers():
        memo[id(buffer)] = torch.empty_like(buffer, device="meta")
    return copy.deepcopy(model, memo)


def get_model_complexity_info(
    model: nn.Module,
    input_shape: tuple[int, ...] = (3, 224, 224),
    forward: str | None = None,
) -> tuple[int, int]:
    """FLOPs of one forward pass at ``input_shape`` and the parameter count, as mmcv 1.x reports them.

    Args:
        model: A classifier (its ``extract_feat`` is run, as MMCls's ``get_flops.py`` does) or any module
            (its ``forward``). It is not modified: a model that is not on ``meta`` is copied there.
        input_shape: ``(C, H, W)`` (or any shape) of one sample; a batch of one is fed.
        forward: Name of the method to run instead of the default (``'forward'``, ``'extract_feat'``).

    Returns:
        ``(flops, params)`` as integers (multiply-accumulates, as mmcv calls them FLOPs).
    """
    params = count_params(model)
    meta_model = _on_meta(model)
    was_training = meta_model.training
    meta_model.eval()
    total = 0
    handles = []

    def hook(module, inputs, output):
        nonlocal total
        total += _counter_for(module)(module, inputs, output)

    for module in meta_model.modules():
        if _counter_for(module) is not None:
            handles.append(module.register_forward_hook(hook))
    if forward is None:
        forward = "extract_feat" if hasattr(meta_model, "extract_feat") else "forward"
    try:
        with torch.no_grad():
            getattr(meta_model, forward)(torch.empty((1, *input_shape), device="meta"))
    finally:
        for handle in handles:
            handle.remove()
        meta_model.train(was_training)
    return int(total), params


def build_meta_model(cfg: dict) -> nn.Module:
    """Build a model config on the ``meta`` device, without running ``init_cfg`` (nothing is loaded).

    Construction that reads tensor values (``.item()`` of a ``linspace`` of drop-path rates) cannot run on
    meta; such a model is built on the CPU and moved.

    Args:
        cfg: A model config, e.g. a spec's ``model`` dict.
    """
    from workers.registry import MODELS

    try:
        with torch.device("meta"):
            return MODELS.build(copy.deepcopy(cfg))
    except (NotImplementedError, RuntimeError) as error:
        if "meta" not in str(error).lower():
            raise
    return MODELS.build(copy.deepcopy(cfg)).to("meta")


def format_complexity(flops: int, params: int, input_shape: tuple[int, ...]) -> str:
    """The three lines of MMCls's ``get_flops.py``: ``Input shape``, ``Flops: 4.12 GFLOPs``, ``Params: 25.56 M``.

    Numbers are rounded as mmcv's ``flops_to_string`` (always GFLOPs) and ``params_to_string`` (M, k or
    a plain count, whichever is the largest unit below the count) round them.
    """
    if params >= 10**6:
        params_text = f"{round(params / 1e6, 2)} M"
    elif params >= 10**3:
        params_text = f"{round(params / 1e3, 2)} k"
    else:
        params_text = str(params)
    return (f"Input shape: {tuple(input_shape)}\n"
            f"Flops: {round(flops / 1e9, 2)} GFLOPs\n"
            f"Params: {params_text}")
