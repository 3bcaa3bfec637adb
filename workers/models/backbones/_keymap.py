"""Loading MMClassification checkpoints into backbones that wrap timm or torchvision modules.

A wrapped backbone keeps MMClassification's top-level attribute names (``stem``, ``stage_1``, ``layers``)
where it can, but the modules inside come from timm/torchvision and carry their names (``conv_kxk.bn``
for MMCls's ``branch_3x3.norm``). Such a backbone lists ``mmcls_key_rules``: ``(pattern, replacement)``
regular expressions applied in order to each key below the backbone's prefix. :class:`MMClsKeysMixin`
applies them in ``adapt_checkpoint`` (called by :func:`workers.models.load_weights` before its shape
check) and in a ``load_state_dict`` pre-hook, so both ways of loading accept MMCls's names.

``load_weights`` renames twice (``adapt_checkpoint``, then the hook inside ``load_state_dict``), so the rules
must leave this project's names alone: each pattern matches only an MMCls name (anchor it with ``^`` on
an MMCls prefix such as ``network.`` or ``patch_embed.``) and no pattern matches what an earlier one
produced. Keys already in this project's names then match no rule and pass unchanged.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence

import torch.nn as nn

__all__ = ["MMClsKeysMixin", "rename_keys"]


def rename_keys(state_dict: dict, rules: Sequence[tuple[str, str]], prefix: str = "") -> dict:
    """Rename, in place, the keys of ``state_dict`` under ``prefix`` by the regex ``rules``.

    Args:
        state_dict: Checkpoint weights; changed in place (and returned).
        rules: ``(pattern, replacement)`` pairs for ``re.sub``, applied in order to the key without ``prefix``.
        prefix: Only keys starting with it are renamed (``'backbone.'`` inside a classifier).
    """
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    renamed = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(prefix):
            local = key[len(prefix):]
            for pattern, repl in compiled:
                local = pattern.sub(repl, local)
            key = prefix + local
        renamed[key] = value
    state_dict.clear()
    state_dict.update(renamed)
    return state_dict


def _rename_hook(module, state_dict, prefix, *args) -> None:
    module.adapt_checkpoint(state_dict, prefix)


class MMClsKeysMixin:
    """Accept MMClassification key names on load; subclasses set ``mmcls_key_rules`` (regex pairs), as a
    class attribute or, where the names depend on the built structure, on the instance, and call
    ``_install_mmcls_key_hook()`` at the end of ``__init__``."""

    mmcls_key_rules: Sequence[tuple[str, str]] = ()

    def _install_mmcls_key_hook(self: nn.Module) -> None:
        self.register_load_state_dict_pre_hook(_rename_hook)

    def adapt_checkpoint(self, state_dict: dict, prefix: str = "") -> None:
        """Rename MMCls keys below ``prefix`` to this backbone's names, in place."""
        rename_keys(state_dict, self.mmcls_key_rules, prefix)

    def convert_mmcls_state_dict(self, state_dict: dict, prefix: str = "") -> OrderedDict:
        """A copy of an MMCls state dict with this backbone's key names (``prefix``: e.g. ``'backbone.'``).

        The rules may depend on the instance (which blocks have an expansion conv or SE), so this is a
        method of the built backbone.
        """
        return rename_keys(OrderedDict(state_dict), self.mmcls_key_rules, prefix)
