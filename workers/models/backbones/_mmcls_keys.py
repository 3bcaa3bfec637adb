"""Renaming MMClassification 0.25 checkpoint keys to the names of the timm modules our backbones wrap.

A family that wraps timm lists ``(pattern, replacement)`` regex rules from MMCls's parameter names to
ours; :func:`rename_keys` applies the first matching rule to each key and
:func:`register_mmcls_key_hook` makes a plain ``load_state_dict`` accept MMCls names (keys already in
our names match no rule and pass through unchanged).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence

import torch.nn as nn

__all__ = ["register_mmcls_key_hook", "rename_keys"]

Rules = Sequence[tuple[str, str]]


def rename_keys(state_dict: Mapping, rules: Rules, prefix: str = "") -> dict:
    """A copy of ``state_dict`` with every key under ``prefix`` renamed by the first rule it fully matches.

    Args:
        state_dict: Parameter names to tensors.
        rules: ``(pattern, replacement)`` pairs for ``re.fullmatch`` / ``Match.expand`` on the key
            without ``prefix``.
        prefix: Only keys starting with it are renamed (the backbone's prefix in a classifier).
    """
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]
    out = {}
    for key, value in state_dict.items():
        if key.startswith(prefix):
            name = key[len(prefix):]
            for pattern, replacement in compiled:
                match = pattern.fullmatch(name)
                if match:
                    name = match.expand(replacement)
                    break
            key = prefix + name
        out[key] = value
    return out


def register_mmcls_key_hook(module: nn.Module, convert: Callable[[Mapping, str], dict]) -> None:
    """Make ``module.load_state_dict`` (alone or inside a classifier) rename MMCls keys with ``convert``.

    Args:
        module: The backbone.
        convert: ``convert(state_dict, prefix) -> dict`` renaming the keys under ``prefix``; a module-level
            function or a bound method, so that the model stays picklable.
    """
    module.register_load_state_dict_pre_hook(functools.partial(_rename_hook, convert))


def _rename_hook(convert, module, state_dict, prefix, *args) -> None:
    keys = [key for key in state_dict if key.startswith(prefix)]
    renamed = convert({key: state_dict[key] for key in keys}, prefix)
    for key in keys:
        del state_dict[key]
    state_dict.update(renamed)
