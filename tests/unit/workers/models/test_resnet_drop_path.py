"""ResNet's ``drop_path_rate`` (stochastic depth, used by the rsb specs): MMCls 0.25's linear rule."""

from __future__ import annotations

import pytest
import torch

from workers.models.backbones.resnet import ResNet, block_drop_path_rates, resnet_tiny


def test_the_rate_rises_linearly_over_the_blocks():
    model = resnet_tiny(drop_path_rate=0.3)  # ResNet-18: 8 blocks
    rates = [getattr(block.drop_path, "drop_prob", 0.0) for name in model.res_layers
             for block in getattr(model, name)]
    assert rates == pytest.approx([0.3 * i / 7 for i in range(8)])


def test_it_changes_nothing_in_eval_mode_nor_in_the_weights():
    torch.manual_seed(0)
    plain = resnet_tiny().eval()
    dropped = resnet_tiny(drop_path_rate=0.5)
    dropped.load_state_dict(plain.state_dict(), strict=True)
    dropped.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(plain(x)[0], dropped(x)[0])


def test_it_drops_residual_branches_while_training():
    with torch.device("meta"):
        model = ResNet(50, drop_path_rate=0.05)
    assert model.layer4[2].drop_path.drop_prob == pytest.approx(0.05)
    assert isinstance(model.layer1[0].drop_path, torch.nn.Identity)


def test_per_block_rates_must_match_the_blocks():
    assert block_drop_path_rates(0.1, 3) == [0.1, 0.1, 0.1]
    with pytest.raises(ValueError, match="2 drop path rates for 3 blocks"):
        block_drop_path_rates([0.1, 0.2], 3)
