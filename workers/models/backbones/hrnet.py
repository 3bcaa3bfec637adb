"""HRNet backbone (the four-resolution trunk; the classification fusion is the ``HRFuseScales`` neck).

Paper: Wang et al., "Deep High-Resolution Representation Learning for Visual Recognition", TPAMI 2020
(https://arxiv.org/abs/1908.07919). Arguments and architectures (``arch`` 'w18' ... 'w64' or an ``extra``
dict of four stages) are MMClassification 0.25's ``mmcls/models/backbones/hrnet.py``; the network is
timm's ``HighResolutionNet`` (``timm/models/hrnet.py``) built without its classification head, whose
module names are the same as MMCls's (``conv1``/``bn1``/``conv2``/``bn2``, ``layer1``, ``transitionN``,
``stageN.M.branches`` / ``fuse_layers``), so MMCls checkpoints load with their keys unchanged (MMCls's
``neck.0.increase_layers`` etc. go to the ``HRFuseScales`` neck).
"""

from __future__ import annotations

import torch.nn as nn
from timm.models.hrnet import BasicBlock, Bottleneck, HighResolutionNet

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.registry import MODELS

__all__ = ["HRNet", "hrnet_tiny"]

_TRUNK = ("conv1", "bn1", "act1", "conv2", "bn2", "act2", "layer1", "transition1", "stage2", "transition2",
          "stage3", "transition3", "stage4")


def _stages(num_channels: tuple[int, ...]) -> list[list]:
    return [[1, 1, "BOTTLENECK", (4,), (64,)],
            [1, 2, "BASIC", (4, 4), num_channels[:2]],
            [4, 3, "BASIC", (4, 4, 4), num_channels[:3]],
            [3, 4, "BASIC", (4, 4, 4, 4), num_channels]]


@MODELS.register()
class HRNet(FrozenStagesMixin, nn.Module):
    """HRNet returning the tuple of its four branches' outputs (strides 4, 8, 16, 32).

    Args:
        arch: 'w18', 'w30', 'w32', 'w40', 'w44', 'w48' or 'w64'; used when ``extra`` is ``None``.
        extra: ``{'stage1': ..., 'stage4': ...}``, each with ``num_modules``, ``num_branches``, ``block``
            ('BOTTLENECK' or 'BASIC'), ``num_blocks`` and ``num_channels``.
        in_channels: Image channels.
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Only BatchNorm (timm's modules).
        norm_eval: Keep every BatchNorm in eval mode while training.
        with_cp: Not supported (timm's modules have no activation checkpointing).
        zero_init_residual: Zero the last BN of each block of stages 2-4 (blocks start as identities).
        multiscale_output: With ``False`` the last module outputs the highest resolution only.
        init_cfg: Extra ``init_cfg``; without it the weights start as timm's (Kaiming-normal convs, unit BNs).
    """

    arch_zoo = {f"w{w}": _stages((w, 2 * w, 4 * w, 8 * w)) for w in (18, 30, 32, 40, 44, 48, 64)}

    def __init__(
        self,
        arch: str = "w32",
        extra: dict | None = None,
        in_channels: int = 3,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        norm_eval: bool = False,
        with_cp: bool = False,
        zero_init_residual: bool = False,
        multiscale_output: bool = True,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")
        if (norm_cfg or {"type": "BN"})["type"] not in ("BN", "BN2d"):
            raise NotImplementedError("HRNet wraps timm's HighResolutionNet: BN only")
        if with_cp:
            raise NotImplementedError("HRNet does not support with_cp (timm's modules have no checkpointing)")
        extra = self.parse_arch(arch, extra)
        for i in range(1, 5):
            if f"stage{i}" not in extra:
                raise ValueError(f'Missing stage{i} config in "extra".')
            stage = extra[f"stage{i}"]
            if not len(stage["num_blocks"]) == len(stage["num_channels"]) == stage["num_branches"]:
                raise ValueError(f"stage{i}: num_blocks and num_channels need num_branches entries")
        self.extra = extra
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg
        cfg = {"stem_width": 64}
        for i in range(1, 5):
            stage = extra[f"stage{i}"]
            cfg[f"stage{i}"] = {"num_modules": stage["num_modules"], "num_branches": stage["num_branches"],
                                "block_type": stage["block"], "num_blocks": tuple(stage["num_blocks"]),
                                "num_channels": tuple(stage["num_channels"]), "fuse_method": "SUM"}
        net = HighResolutionNet(cfg, in_chans=in_channels, num_classes=0, head="")
        if not multiscale_output:
            last = net.stage4[-1]
            last.fuse_layers = last.fuse_layers[:1]
        for name in _TRUNK:
            self.add_module(name, getattr(net, name))
        if zero_init_residual:
            for stage in (self.stage2, self.stage3, self.stage4):
                for m in stage.modules():
                    if isinstance(m, BasicBlock):
                        nn.init.zeros_(m.bn2.weight)
                    elif isinstance(m, Bottleneck):
                        nn.init.zeros_(m.bn3.weight)

    def parse_arch(self, arch: str, extra: dict | None = None) -> dict:
        """``extra`` itself, or the ``extra`` dict of a preset ``arch``."""
        if extra is not None:
            return extra
        if arch not in self.arch_zoo:
            raise KeyError(f"Invalid arch, please choose arch from {list(self.arch_zoo)}, or specify `extra` "
                           "argument directly.")
        return {f"stage{i}": {"num_modules": s[0], "num_branches": s[1], "block": s[2], "num_blocks": s[3],
                              "num_channels": s[4]} for i, s in enumerate(self.arch_zoo[arch], start=1)}

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        branches = [self.layer1(x)]
        for transition, stage in ((self.transition1, self.stage2), (self.transition2, self.stage3),
                                  (self.transition3, self.stage4)):
            # a new, coarser branch starts from the coarsest existing one
            inputs = [layer(branches[min(j, len(branches) - 1)]) for j, layer in enumerate(transition)]
            branches = stage(inputs)
        return tuple(branches)


def _create_hrnet(variant: str, **kwargs) -> HRNet:
    extra = {"hrnet_tiny": {
        "stage1": {"num_modules": 1, "num_branches": 1, "block": "BOTTLENECK", "num_blocks": (1,), "num_channels": (8,)},
        "stage2": {"num_modules": 1, "num_branches": 2, "block": "BASIC", "num_blocks": (1, 1), "num_channels": (4, 8)},
        "stage3": {"num_modules": 1, "num_branches": 3, "block": "BASIC", "num_blocks": (1, 1, 1),
                   "num_channels": (4, 8, 16)},
        "stage4": {"num_modules": 1, "num_branches": 4, "block": "BASIC", "num_blocks": (1, 1, 1, 1),
                   "num_channels": (4, 8, 16, 32)},
    }}[variant]
    return HRNet(extra=kwargs.pop("extra", extra), **kwargs)


def hrnet_tiny(**kwargs) -> HRNet:
    """An HRNet with one block per branch and 4-32 channels, for tests."""
    return _create_hrnet("hrnet_tiny", **kwargs)
