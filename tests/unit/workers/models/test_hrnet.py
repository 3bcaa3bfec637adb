"""HRNet: the four branches, MMCls 0.25's key names (timm's trunk shares them) and the HRFuseScales neck list."""

from __future__ import annotations

import pytest
import torch

from workers.models import build_model, load_weights
from workers.models.backbones.hrnet import HRNet, hrnet_tiny

TINY_EXTRA = hrnet_tiny().extra


def test_it_returns_the_four_branches():
    outs = hrnet_tiny()(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 4, 16, 16), (2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2)]
    assert [tuple(o.shape) for o in hrnet_tiny(multiscale_output=False)(torch.randn(1, 3, 64, 64))] == [
        (1, 4, 16, 16)]
    with pytest.raises(KeyError, match="Invalid arch"):
        HRNet(arch="w20")


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(hrnet_tiny().state_dict())
    assert {"conv1.weight", "bn1.running_var", "conv2.weight", "bn2.bias", "layer1.0.conv3.weight",
            "layer1.0.downsample.0.weight", "layer1.0.downsample.1.weight", "transition1.0.0.weight",
            "transition1.1.0.0.weight", "transition2.2.0.1.running_mean", "stage2.0.branches.1.0.conv2.weight",
            "stage3.0.fuse_layers.0.2.0.weight", "stage3.0.fuse_layers.2.0.1.0.weight",
            "stage4.0.fuse_layers.3.2.0.1.bias"} <= names


def test_it_zero_inits_the_residual_branches_on_request():
    backbone = hrnet_tiny(zero_init_residual=True)
    assert torch.count_nonzero(backbone.stage2[0].branches[0][0].bn2.weight) == 0
    assert torch.count_nonzero(backbone.layer1[0].bn3.weight) > 0  # layer1 is left alone, as in MMCls


def test_it_loads_an_mmcls_checkpoint_with_its_neck_list():
    cfg = {"type": "ImageClassifier", "backbone": {"type": "HRNet", "extra": TINY_EXTRA},
           "neck": [{"type": "HRFuseScales", "in_channels": (4, 8, 16, 32), "out_channels": 64},
                    {"type": "GlobalAveragePooling"}],
           "head": {"type": "LinearClsHead", "num_classes": 3, "in_channels": 64}}
    source, target = build_model(cfg), build_model(cfg)
    for param in source.parameters():
        param.data.normal_()
    state = source.state_dict()
    assert "neck.0.increase_layers.0.0.conv1.weight" in state and "neck.0.final_layer.conv.weight" in state
    missing, unexpected = load_weights(target, {"state_dict": state})
    assert missing == [] and unexpected == []
    x = torch.randn(1, 3, 64, 64)
    source.eval()
    target.eval()
    with torch.no_grad():
        torch.testing.assert_close(target.simple_test(x), source.simple_test(x))
    assert source.extract_feat(x)[0].shape == (1, 64)
