"""Stage freezing and ``norm_eval``, written once for the backbones (MMClassification 0.25's arguments).

An MMCls backbone's ``frozen_stages`` stops the gradients of its stem and first stages and keeps them in
eval mode (their BatchNorm statistics do not drift), and ``norm_eval`` keeps every BatchNorm in eval
mode while training. Each MMCls backbone wrote both out again; here a backbone only says what its stem
and its stages are, and how MMCls counted them for that family:

- ``frozen_stages = k`` freezes stages ``0..k-1`` (ResNet's rule), or ``0..k`` where
  ``frozen_stages_inclusive`` (CSPNet, HorNet, VAN, Swin V2);
- the stem is frozen with ``frozen_stages >= stem_frozen_from`` (0: ``frozen_stages=0`` freezes the stem
  alone; 1 where MMCls freezes it with the first stage: ConvNeXt, PoolFormer).

As timm keeps freezing in one place (``timm.utils.model.freeze``), so a fix here reaches every backbone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["FrozenStagesMixin"]


class FrozenStagesMixin:
    """``_freeze_stages`` and a ``train(mode)`` that re-freezes, for an ``nn.Module`` backbone.

    A subclass sets ``frozen_stages`` (and ``norm_eval`` where it takes it) in ``__init__``, calls
    ``self._freeze_stages()`` once its modules exist, and says what freezing covers with
    :meth:`_stem_modules` and :meth:`_stage_modules`. These may list a loose ``nn.Parameter`` (a class
    token, a position embedding): it only stops its gradient.
    """

    frozen_stages: int = -1
    norm_eval: bool = False
    #: ``frozen_stages`` from which the stem is frozen.
    stem_frozen_from: int = 0
    #: ``frozen_stages = k`` freezes stages ``0..k`` (True) or ``0..k-1`` (False).
    frozen_stages_inclusive: bool = False

    def _stem_modules(self) -> Sequence[nn.Module | nn.Parameter]:
        """What is frozen before the first stage; none by default."""
        return ()

    def _stage_modules(self, index: int) -> Sequence[nn.Module | nn.Parameter]:
        """What freezing stage ``index`` freezes (MMCls's count: the stage's downsampling, output norm...)."""
        raise NotImplementedError(f"{type(self).__name__} takes frozen_stages but names no stages")

    def _frozen_modules(self) -> list[nn.Module | nn.Parameter]:
        """The stem and stages that ``frozen_stages`` freezes, in order."""
        frozen = list(self._stem_modules()) if self.frozen_stages >= self.stem_frozen_from else []
        count = self.frozen_stages + 1 if self.frozen_stages_inclusive else self.frozen_stages
        for index in range(count):
            frozen += self._stage_modules(index)
        return frozen

    def _freeze_stages(self) -> None:
        """Stop the gradients of the frozen parts and put their modules in eval mode."""
        for part in self._frozen_modules():
            if isinstance(part, nn.Parameter):
                part.requires_grad = False
                continue
            part.eval()
            for param in part.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        """Switch mode, keeping frozen stages (and all BatchNorms if ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
