"""``init_cfg`` as mmcv's ``BaseModule.init_weights`` runs it: the initializers and the checkpoint loading.

Modules initialise themselves in their constructors with MMClassification's defaults (Kaiming convs,
unit norms, N(0, 0.01) linear heads), so a module built without ``init_cfg`` already holds MMCls's
initial weights. An ``init_cfg`` then runs on top, outermost module first (seed section 10.4.1):
``Pretrained`` loads a checkpoint; ``Constant``, ``Normal``, ``TruncNormal``, ``Uniform``, ``Xavier`` and
``Kaiming`` re-initialise the submodules whose class (or direct base class) is named in ``layer=``, and
``override=dict(name=..., ...)`` re-initialises the named child as a whole, as mmcv's ``initialize`` does.
"""

from __future__ import annotations

import copy
import logging
import math
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn

from workers import fetch
from workers.registry import INITIALIZERS

logger = logging.getLogger(__name__)


class CheckpointMismatchError(ValueError):
    """A checkpoint that does not fit the model: a ``prefix`` that matches none of its keys, or (unless a
    partial load was asked for) weights of the model that the checkpoint does not hold."""


@INITIALIZERS.register("Pretrained")
def pretrained_init(module: nn.Module, checkpoint: str, prefix: str | None = None,
                    map_location: str = "cpu") -> None:
    """Load ``checkpoint`` into ``module`` (non-strict), keeping only keys under ``prefix`` if given.

    As mmcv 1.x's ``PretrainedInit``: keys of the module the checkpoint lacks are logged, not refused (a
    backbone's ``init_cfg`` is the seed's way to fine-tune), and a shape mismatch is skipped.

    Args:
        module: The module whose ``init_cfg`` asked for it.
        checkpoint: A local path, or an http(s) URL (see :func:`read_checkpoint`).
        prefix: E.g. ``'backbone'`` (or ``'backbone.'``) to take a classifier checkpoint's backbone weights.
        map_location: Where tensors are loaded.

    Raises:
        CheckpointMismatchError: ``prefix`` matches none of the checkpoint's keys.
    """
    load_weights(module, checkpoint, prefix=prefix, strict=False, map_location=map_location)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint file or URL into a dict; ``weights_only`` so that no pickled code runs.

    Args:
        path: A local path, or an http(s) URL: fetched by :func:`workers.fetch.fetch_checkpoint` (on the
            service only from a host the operator allows, into the run's own cache; elsewhere as torch.hub).
        map_location: Where tensors are loaded.

    Returns:
        The checkpoint as ``torch.load`` returns it.

    Raises:
        workers.fetch.NetworkPolicyError: a URL the service's policy refuses.
    """
    if fetch.is_url(path):
        path = fetch.fetch_checkpoint(str(path).strip())
    return torch.load(path, map_location=map_location, weights_only=True)


def extract_state_dict(checkpoint: dict, prefix: str | None = None) -> OrderedDict:
    """The weights of a checkpoint dict: ``state_dict`` (or ``model``) with DDP's ``module.`` removed.

    Args:
        checkpoint: As :func:`read_checkpoint` returns it, or a bare state dict.
        prefix: Keep only the keys of this submodule, with the prefix stripped. As mmcv 1.x's
            ``_load_checkpoint_with_prefix``, a prefix without a trailing dot gets one: ``'backbone'`` takes
            ``backbone.conv1.weight`` as ``conv1.weight`` (and never ``backbone_ema.*``).

    Raises:
        CheckpointMismatchError: ``prefix`` matches no key (mmcv: "backbone. is not in the pretrained model").
    """
    state = checkpoint
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    if prefix and not prefix.endswith("."):
        prefix += "."
    out = OrderedDict()
    for key, value in state.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if prefix:
            if not key.startswith(prefix):
                continue
            key = key[len(prefix):]
        out[key] = value
    if prefix and not out:
        tops = sorted({key.removeprefix("module.").split(".", 1)[0] for key in state})
        shown = ", ".join(f"{t}." for t in tops[:12]) + (", ..." if len(tops) > 12 else "")
        raise CheckpointMismatchError(
            f"no weights under prefix {prefix!r} in the checkpoint; its keys start with: {shown or 'nothing'}")
    return out


def load_weights(module: nn.Module, checkpoint: str | Path | dict, *, prefix: str | None = None,
                 strict: bool = False, map_location: str | torch.device = "cpu",
                 partial: bool = True) -> tuple[list, list]:
    """Load weights from a checkpoint path or dict into ``module``, logging missing and unexpected keys.

    Args:
        module: The model (or submodule) to load into.
        checkpoint: A path, URL or checkpoint dict.
        prefix: Take only the keys under this prefix (see :func:`extract_state_dict`).
        strict: ``load_state_dict``'s strict: any missing, unexpected or mis-shaped key fails.
        map_location: Where tensors are loaded.
        partial: Accept a checkpoint that leaves weights of ``module`` unloaded. With ``False`` (what
            ``init_model`` and ``load_from`` do unless asked for a partial load) such a checkpoint is refused
            with the list of those weights. A key the checkpoint holds with another shape (the head of a
            model with another ``num_classes``: the seed's fine-tuning) is skipped and never refused.

    Returns:
        ``(missing_keys, unexpected_keys)``.

    Raises:
        CheckpointMismatchError: ``partial=False`` and weights of ``module`` that the checkpoint lacks.
    """
    if not isinstance(checkpoint, dict):
        logger.info("load checkpoint from %s", checkpoint)
        checkpoint = read_checkpoint(checkpoint, map_location)
    state = extract_state_dict(checkpoint, prefix)
    for name, sub in module.named_modules():
        # Modules that can adapt a checkpoint (ViT resizing its pos_embed to another img_size) do so
        # before the shape check below would drop the key.
        adapt = getattr(sub, "adapt_checkpoint", None)
        if callable(adapt):
            adapt(state, f"{name}." if name else "")
    own = module.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if mismatched and not strict:
        # Skip shape mismatches (a head with another num_classes) rather than fail, as mmcv does.
        for key in mismatched:
            logger.warning("size mismatch for %s: checkpoint %s, model %s; skipped", key,
                           tuple(state[key].shape), tuple(own[key].shape))
            del state[key]
    if not partial and not strict:
        absent = [k for k in own if k not in state and k not in mismatched
                  and not k.endswith("num_batches_tracked")]  # a BN counter changes no prediction
        if absent:
            shown = ", ".join(absent[:20]) + (f", ... ({len(absent)} in all)" if len(absent) > 20 else "")
            raise CheckpointMismatchError(
                f"the checkpoint leaves {len(absent)} weights of the model unloaded: {shown}. Is it a checkpoint "
                "of this model? To load it anyway, ask for a partial load: load_from_partial=True in the spec "
                "(--cfg-options load_from_partial=True), or init_model(..., partial=True)")
    result = module.load_state_dict(state, strict=strict)
    if result.missing_keys:
        logger.warning("missing keys in source state_dict: %s", ", ".join(result.missing_keys))
    if result.unexpected_keys:
        logger.warning("unexpected key in source state_dict: %s", ", ".join(result.unexpected_keys))
    return list(result.missing_keys), list(result.unexpected_keys)


def apply_init_cfgs(model: nn.Module) -> None:
    """Run every ``init_cfg`` found on ``model`` and its submodules, outermost first.

    As in mmcv's ``BaseModule.init_weights``, a module whose ``init_cfg`` is a single ``Pretrained`` dict
    is not re-initialised by its children's ``init_cfg`` afterwards: the loaded weights stay.
    """
    init_cfg = getattr(model, "init_cfg", None)
    if init_cfg:
        initialize(model, init_cfg)
        if isinstance(init_cfg, dict) and init_cfg.get("type") == "Pretrained":
            return
    for child in model.children():
        apply_init_cfgs(child)


def initialize(module: nn.Module, init_cfg: dict | list) -> None:
    """mmcv's ``initialize``: run each config on ``module``, then its ``override`` on the named children.

    Args:
        module: The module to initialise.
        init_cfg: One initializer config or a list of them, e.g.
            ``dict(type='Normal', layer='Linear', std=0.01, override=dict(name='fc', std=0.001))``.

    Raises:
        ValueError: An ``override`` without ``name``, or with arguments but no ``type``.
        RuntimeError: An ``override`` naming a child the module does not have.
    """
    for cfg in init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]:
        cfg = copy.deepcopy(dict(cfg))
        override = cfg.pop("override", None)
        _run_initializer(module, cfg, whole_module=False)
        if override is None:
            continue
        cfg.pop("layer", None)
        for item in [override] if isinstance(override, dict) else list(override):
            item = copy.deepcopy(dict(item))
            name = item.pop("name", None)
            if name is None:
                raise ValueError(f'`override` must contain the key "name", but got {item}')
            if not item:  # only a name: the outer config's initializer and arguments
                item = dict(cfg)
            elif "type" not in item:
                raise ValueError(f'`override` need "type" key, but got {item}')
            if not hasattr(module, name):
                raise RuntimeError(f"module did not have attribute {name}, but init_cfg is {item}.")
            _run_initializer(getattr(module, name), item, whole_module=True)


def _run_initializer(module: nn.Module, cfg: dict, whole_module: bool) -> None:
    cfg = dict(cfg)
    init_type = cfg.pop("type")
    if init_type == "Pretrained":
        cfg.pop("layer", None)
        INITIALIZERS.get(init_type)(module, **cfg)
        return
    INITIALIZERS.get(init_type)(module, whole_module=whole_module, **cfg)


def _layer_names(module: nn.Module) -> set[str]:
    # mmcv matches ``layer=`` against the class name and its *direct* base classes' names
    # (so '_BatchNorm' selects BatchNorm2d, and 'Conv2d' does not select a Conv2d subclass' bases).
    return {type(module).__name__, *(base.__name__ for base in type(module).__bases__)}


def _make_initializer(init_fn):
    """Turn ``init_fn(m, bias, **args)`` into an mmcv initializer taking ``layer``, ``bias``, ``bias_prob``."""

    def initializer(module: nn.Module, *, layer: str | list[str] | None = None, bias: float = 0.0,
                    bias_prob: float | None = None, whole_module: bool = False, **kwargs) -> None:
        if bias_prob is not None:
            bias = float(-math.log((1 - bias_prob) / bias_prob))  # mmcv's bias_init_with_prob
        layers = {layer} if isinstance(layer, str) else set(layer or ())
        if not whole_module and not layers:
            # mmcv's BaseInit without ``layer`` (and outside ``override``) initialises nothing.
            return
        for m in module.modules():
            if whole_module or layers & _layer_names(m):
                init_fn(m, bias=bias, **kwargs)

    initializer.__doc__ = init_fn.__doc__
    return initializer


def _weight(m: nn.Module):
    weight = getattr(m, "weight", None)
    return weight if isinstance(weight, torch.Tensor) else None


def _fill_bias(m: nn.Module, bias: float) -> None:
    if isinstance(getattr(m, "bias", None), torch.Tensor):
        nn.init.constant_(m.bias, bias)


def _constant(m: nn.Module, *, val: float, bias: float = 0.0) -> None:
    """``Constant``: weight = ``val``, bias = ``bias``."""
    if _weight(m) is not None:
        nn.init.constant_(m.weight, val)
    _fill_bias(m, bias)


def _normal(m: nn.Module, *, mean: float = 0.0, std: float = 1.0, bias: float = 0.0) -> None:
    """``Normal``: weight ~ N(mean, std^2)."""
    if _weight(m) is not None:
        nn.init.normal_(m.weight, mean, std)
    _fill_bias(m, bias)


def _trunc_normal(m: nn.Module, *, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  bias: float = 0.0) -> None:
    """``TruncNormal``: weight ~ N(mean, std^2) truncated to [a, b]."""
    if _weight(m) is not None:
        nn.init.trunc_normal_(m.weight, mean, std, a, b)
    _fill_bias(m, bias)


def _uniform(m: nn.Module, *, a: float = 0.0, b: float = 1.0, bias: float = 0.0) -> None:
    """``Uniform``: weight ~ U(a, b)."""
    if _weight(m) is not None:
        nn.init.uniform_(m.weight, a, b)
    _fill_bias(m, bias)


def _xavier(m: nn.Module, *, gain: float = 1.0, distribution: str = "normal", bias: float = 0.0) -> None:
    """``Xavier``: Glorot init, ``distribution`` 'normal' or 'uniform'."""
    if distribution not in ("normal", "uniform"):
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    if _weight(m) is not None:
        (nn.init.xavier_uniform_ if distribution == "uniform" else nn.init.xavier_normal_)(m.weight, gain=gain)
    _fill_bias(m, bias)


def _kaiming(m: nn.Module, *, a: float = 0.0, mode: str = "fan_out", nonlinearity: str = "relu",
             distribution: str = "normal", bias: float = 0.0) -> None:
    """``Kaiming``: He init with mmcv's defaults (``fan_out``, ReLU, normal)."""
    if distribution not in ("normal", "uniform"):
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    if _weight(m) is not None:
        fn = nn.init.kaiming_uniform_ if distribution == "uniform" else nn.init.kaiming_normal_
        fn(m.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _fill_bias(m, bias)


INITIALIZERS.add("Constant", _make_initializer(_constant))
INITIALIZERS.add("Normal", _make_initializer(_normal))
INITIALIZERS.add("TruncNormal", _make_initializer(_trunc_normal))
INITIALIZERS.add("Uniform", _make_initializer(_uniform))
INITIALIZERS.add("Xavier", _make_initializer(_xavier))
INITIALIZERS.add("Kaiming", _make_initializer(_kaiming))
