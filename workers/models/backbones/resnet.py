"""ResNet, ResNetV1C and ResNetV1D backbones.

Paper: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385); the V1c/V1d stems and average-pool shortcuts are from He et al.,
"Bag of Tricks for Image Classification with Convolutional Neural Networks" (https://arxiv.org/abs/1812.01187).

The arguments and the parameter names (``conv1``, ``bn1``, ``layer1..4``, ``downsample``, ``stem.N.conv``)
are MMClassification 0.25's ``mmcls/models/backbones/resnet.py``, so its checkpoints load unchanged.
torchvision's and timm's ResNets are not wrapped: neither has MMCls's ``stem_channels`` /
``base_channels`` / ``num_stages`` / caffe ``style`` arguments nor its deep-stem key names.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.layers import ConvModule, DropPath, build_norm_layer, constant_init, kaiming_init
from workers.registry import MODELS

__all__ = ["BasicBlock", "Bottleneck", "ResLayer", "ResNet", "ResNetV1C", "ResNetV1D", "resnet_tiny"]


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity shortcut (ResNet-18/34).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        expansion: Ratio of ``out_channels`` to the block's middle channels.
        stride: Stride of the first conv.
        dilation: Dilation of both convs.
        downsample: Module applied to the shortcut, or ``None``.
        style: ``'pytorch'`` or ``'caffe'`` (no effect for this block).
        with_cp: Trade compute for memory with activation checkpointing.
        norm_cfg: Norm layer config.
        drop_path_rate: Stochastic depth: probability of dropping the residual branch of a sample.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: int = 1,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        norm_cfg: dict | None = None,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        norm_cfg = norm_cfg or {"type": "BN"}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.expansion = expansion
        assert out_channels % expansion == 0, "out_channels must be divisible by expansion"
        self.mid_channels = out_channels // expansion
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.with_cp = with_cp

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.mid_channels, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, out_channels, postfix=2)
        self.conv1 = nn.Conv2d(in_channels, self.mid_channels, 3, stride=stride, padding=dilation,
                               dilation=dilation, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(self.mid_channels, out_channels, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 1e-5 else nn.Identity()

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def _inner_forward(self, x):
        identity = x
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.drop_path(out) + identity

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        else:
            out = self._inner_forward(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 convs with a shortcut (ResNet-50/101/152).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        expansion: Ratio of ``out_channels`` to the block's middle channels.
        stride: Stride of the block.
        dilation: Dilation of the 3x3 conv.
        downsample: Module applied to the shortcut, or ``None``.
        style: ``'pytorch'``: the stride is on the 3x3 conv; ``'caffe'``: on the first 1x1 conv.
        with_cp: Trade compute for memory with activation checkpointing.
        norm_cfg: Norm layer config.
        drop_path_rate: Stochastic depth: probability of dropping the residual branch of a sample.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: int = 4,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        norm_cfg: dict | None = None,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        if style not in ("pytorch", "caffe"):
            raise ValueError(f"style must be 'pytorch' or 'caffe', got {style!r}")
        norm_cfg = norm_cfg or {"type": "BN"}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.expansion = expansion
        assert out_channels % expansion == 0, "out_channels must be divisible by expansion"
        self.mid_channels = out_channels // expansion
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.with_cp = with_cp
        if style == "pytorch":
            self.conv1_stride, self.conv2_stride = 1, stride
        else:
            self.conv1_stride, self.conv2_stride = stride, 1
        self.norm_cfg = norm_cfg  # subclasses rebuild the convs with other widths (ResNeXt)

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.mid_channels, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, self.mid_channels, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, out_channels, postfix=3)
        self.conv1 = nn.Conv2d(in_channels, self.mid_channels, 1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(self.mid_channels, self.mid_channels, 3, stride=self.conv2_stride,
                               padding=dilation, dilation=dilation, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = nn.Conv2d(self.mid_channels, out_channels, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 1e-5 else nn.Identity()

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def _inner_forward(self, x):
        identity = x
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.drop_path(out) + identity

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        else:
            out = self._inner_forward(x)
        return self.relu(out)


def get_expansion(block: type[nn.Module], expansion: int | None = None) -> int:
    """The block's expansion: the argument if given, else 1 for BasicBlock and 4 for Bottleneck."""
    if expansion is not None:
        return expansion
    if issubclass(block, BasicBlock):
        return 1
    if issubclass(block, Bottleneck):
        return 4
    raise TypeError(f"expansion is not specified for {block.__name__}")


def block_drop_path_rates(drop_path_rate: float | list[float], num_blocks: int) -> list[float]:
    """One stochastic-depth rate per block of a stage (a float is repeated)."""
    rates = [float(drop_path_rate)] * num_blocks if isinstance(drop_path_rate, (int, float)) else list(drop_path_rate)
    if len(rates) != num_blocks:
        raise ValueError(f"{len(rates)} drop path rates for {num_blocks} blocks")
    return rates


class ResLayer(nn.Sequential):
    """One stage: ``num_blocks`` blocks, the first one strided and with a projection shortcut if needed.

    Args:
        block: BasicBlock or Bottleneck.
        num_blocks: Blocks in the stage.
        in_channels: Input channels.
        out_channels: Output channels.
        expansion: Block expansion (default: the block's).
        stride: Stride of the first block.
        avg_down: Downsample the shortcut with an average pool and a stride-1 conv (ResNet-D).
        norm_cfg: Norm layer config.
        drop_path_rate: Stochastic depth of every block, or one rate per block.
        **kwargs: Passed to every block (dilation, style, with_cp).
    """

    def __init__(
        self,
        block: type[nn.Module],
        num_blocks: int,
        in_channels: int,
        out_channels: int,
        expansion: int | None = None,
        stride: int = 1,
        avg_down: bool = False,
        norm_cfg: dict | None = None,
        drop_path_rate: float | list[float] = 0.0,
        **kwargs,
    ):
        norm_cfg = norm_cfg or {"type": "BN"}
        self.block = block
        self.expansion = get_expansion(block, expansion)
        downsample = None
        if stride != 1 or in_channels != out_channels:
            layers: list[nn.Module] = []
            conv_stride = stride
            if avg_down and stride != 1:
                conv_stride = 1
                layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True,
                                           count_include_pad=False))
            layers += [nn.Conv2d(in_channels, out_channels, 1, stride=conv_stride, bias=False),
                       build_norm_layer(norm_cfg, out_channels)[1]]
            downsample = nn.Sequential(*layers)
        rates = block_drop_path_rates(drop_path_rate, num_blocks)
        blocks = [block(in_channels=in_channels, out_channels=out_channels, expansion=self.expansion,
                        stride=stride, downsample=downsample, norm_cfg=norm_cfg, drop_path_rate=rates[0],
                        **kwargs)]
        for i in range(1, num_blocks):
            blocks.append(block(in_channels=out_channels, out_channels=out_channels, expansion=self.expansion,
                                stride=1, norm_cfg=norm_cfg, drop_path_rate=rates[i], **kwargs))
        super().__init__(*blocks)


@MODELS.register()
class ResNet(FrozenStagesMixin, nn.Module):
    """ResNet backbone returning a tuple of the feature maps of ``out_indices`` stages.

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: Image channels.
        stem_channels: Channels of the stem.
        base_channels: Middle channels of the first stage (its output is ``base_channels * expansion``).
        expansion: Block expansion (default 1 for BasicBlock, 4 for Bottleneck).
        num_stages: Stages to build, 1 to 4.
        strides: Stride of the first block of each stage.
        dilations: Dilation of each stage.
        out_indices: Stages whose outputs are returned (negative counts from the end).
        style: ``'pytorch'`` (stride on the 3x3 conv) or ``'caffe'`` (on the first 1x1 conv).
        deep_stem: Replace the 7x7 stem conv with three 3x3 ConvModules (ResNet-C).
        avg_down: Average-pool in the projection shortcuts (ResNet-D).
        frozen_stages: Stages to freeze (no grad, eval mode); 0 freezes only the stem, -1 nothing.
        norm_cfg: Norm layer config.
        norm_eval: Keep every BatchNorm in eval mode while training (frozen statistics).
        with_cp: Activation checkpointing in the blocks.
        zero_init_residual: Zero-initialise the last norm of each block (MMCls's default: True).
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)`` or ``None``.
        drop_path_rate: Stochastic depth of the last block, rising linearly from 0 over the blocks.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int,
        in_channels: int = 3,
        stem_channels: int = 64,
        base_channels: int = 64,
        expansion: int | None = None,
        num_stages: int = 4,
        strides: tuple[int, ...] = (1, 2, 2, 2),
        dilations: tuple[int, ...] = (1, 1, 1, 1),
        out_indices: tuple[int, ...] = (3,),
        style: str = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        norm_eval: bool = False,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        init_cfg: dict | list | None = None,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        if depth not in self.arch_settings:
            raise KeyError(f"invalid depth {depth} for resnet; choose from {sorted(self.arch_settings)}")
        if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported yet")
        if not 1 <= num_stages <= 4:
            raise ValueError(f"num_stages must be 1..4, got {num_stages}")
        strides, dilations = tuple(strides), tuple(dilations)
        if not len(strides) == len(dilations) == num_stages:
            raise ValueError(f"strides {strides} and dilations {dilations} need {num_stages} entries")
        out_indices = tuple(i + num_stages if i < 0 else i for i in out_indices)
        if max(out_indices) >= num_stages:
            raise ValueError(f"out_indices {out_indices} must be < num_stages ({num_stages})")
        self.depth = depth
        self.stem_channels = stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.strides = strides
        self.dilations = dilations
        self.out_indices = out_indices
        self.style = style
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.frozen_stages = frozen_stages
        self.norm_cfg = norm_cfg or {"type": "BN", "requires_grad": True}
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual
        self.init_cfg = init_cfg
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]
        self.expansion = get_expansion(self.block, expansion)

        self._make_stem_layer(in_channels, stem_channels)

        self.res_layers: list[str] = []
        _in_channels = stem_channels
        _out_channels = base_channels * self.expansion
        # stochastic depth rises linearly over all blocks (MMCls 0.25's rule, used by the rsb specs)
        dpr = torch.linspace(0, drop_path_rate, sum(self.stage_blocks), device="cpu").tolist()
        for i, num_blocks in enumerate(self.stage_blocks):
            extra = {"drop_path_rate": dpr[:num_blocks]} if drop_path_rate > 0 else {}
            dpr = dpr[num_blocks:]
            res_layer = self.make_res_layer(
                block=self.block, num_blocks=num_blocks, in_channels=_in_channels,
                out_channels=_out_channels, expansion=self.expansion, stride=strides[i],
                dilation=dilations[i], style=style, avg_down=avg_down, with_cp=with_cp,
                norm_cfg=self.norm_cfg, **extra)
            _in_channels = _out_channels
            _out_channels *= 2
            self.add_module(f"layer{i + 1}", res_layer)
            self.res_layers.append(f"layer{i + 1}")
        self.feat_dim = res_layer[-1].out_channels

        self.init_weights()
        self._freeze_stages()

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        """Build one stage; subclasses (ResNeXt, SE-ResNet, Res2Net, ResNeSt) pass their block's arguments."""
        return ResLayer(**kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            half = stem_channels // 2
            self.stem = nn.Sequential(
                ConvModule(in_channels, half, 3, stride=2, padding=1, norm_cfg=self.norm_cfg),
                ConvModule(half, half, 3, stride=1, padding=1, norm_cfg=self.norm_cfg),
                ConvModule(half, stem_channels, 3, stride=1, padding=1, norm_cfg=self.norm_cfg))
        else:
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def init_weights(self) -> None:
        """MMCls's defaults: Kaiming-normal convs, unit norms, zero last norm per block if asked."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                constant_init(m, 1)
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    constant_init(m.norm3, 0)
                elif isinstance(m, BasicBlock):
                    constant_init(m.norm2, 0)

    def _stem_modules(self) -> list[nn.Module]:
        return [self.stem] if self.deep_stem else [self.conv1, self.norm1]

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [getattr(self, f"layer{index + 1}")]

    def forward(self, x):
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register()
class ResNetV1C(ResNet):
    """ResNet-C: the 7x7 stem conv replaced by three 3x3 convs (``deep_stem=True``)."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=False, **kwargs)


@MODELS.register()
class ResNetV1D(ResNet):
    """ResNet-D: deep stem plus average-pooled projection shortcuts."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)


# MMCls 0.25 registers the same classes as ResNetV1c / ResNetV1d; specs use both spellings.
MODELS.add("ResNetV1c", ResNetV1C)
MODELS.add("ResNetV1d", ResNetV1D)


def _create_resnet(variant: str, **kwargs) -> ResNet:
    depth = int(variant.removeprefix("resnet"))
    return ResNet(depth=depth, **kwargs)


def resnet_tiny(**kwargs) -> ResNet:
    """A ResNet-18 with 8 base channels, for tests."""
    kwargs.setdefault("stem_channels", 8)
    kwargs.setdefault("base_channels", 8)
    return _create_resnet("resnet18", **kwargs)
