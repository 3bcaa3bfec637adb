"""RepVGG: outputs, frozen stages, re-parameterisation (``switch_to_deploy`` and ``trainyard reparam``) and
MMCls checkpoint names."""

from __future__ import annotations

import pytest
import torch

from tests.support.mmcls_keys import repvgg_to_mmcls as _to_mmcls
from workers.cli import main
from workers.engine.checkpoint import load_checkpoint, save_checkpoint
from workers.models import build_model, load_weights
from workers.models.backbones.repvgg import RepVGG, repvgg_tiny

TINY_ARCH = {"num_blocks": [1, 2, 2, 1], "width_factor": [0.25, 0.25, 0.25, 0.25], "group_layer_map": {"2": 2},
             "se_cfg": {"ratio": 4, "divisor": 1}}


def _randomise_bn(model: torch.nn.Module) -> None:
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def test_it_returns_the_stages_of_out_indices():
    outs = repvgg_tiny(out_indices=(0, 1, 2, 3))(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2), (2, 128, 1, 1)]
    with pytest.raises(KeyError, match="arch_settings"):
        RepVGG("A9")


def test_it_groups_the_even_layers_of_the_g_variants():
    with torch.device("meta"):
        backbone = RepVGG("B1g4")
    groups = [block.conv_kxk.conv.groups for block in backbone.stage_1]
    assert groups == [1, 4, 1, 4]
    assert backbone.stage_4[0].conv_kxk.conv.groups == 1  # layer 27


def test_it_freezes_the_stem_and_the_first_stages_even_after_train():
    backbone = repvgg_tiny(frozen_stages=2)
    backbone.train()
    for module in (backbone.stem, backbone.stage_1, backbone.stage_2):
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    assert all(p.requires_grad for p in backbone.stage_3.parameters())
    assert backbone.stage_3.training


def test_it_gives_the_same_outputs_after_switch_to_deploy():
    backbone = repvgg_tiny(out_indices=(1, 3))
    _randomise_bn(backbone)
    backbone.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = backbone(x)
        backbone.switch_to_deploy()
        after = backbone(x)
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert set(backbone.state_dict()) == set(repvgg_tiny(deploy=True).state_dict())
    assert all(p.requires_grad for p in backbone.parameters())  # the SE layers stay trainable


def test_it_loads_mmcls_checkpoints_for_training_and_deploy():
    source = repvgg_tiny()
    _randomise_bn(source)
    mmcls = _to_mmcls(source.state_dict())
    assert {"stem.branch_3x3.conv.weight", "stem.branch_1x1.norm.running_var", "stem.se_layer.conv1.conv.weight",
            "stage_1.0.branch_3x3.norm.weight", "stage_2.1.branch_norm.running_mean",
            "stage_2.1.se_layer.conv2.conv.bias"} <= set(mmcls)
    target = repvgg_tiny()
    target.load_state_dict(mmcls)  # strict: every MMCls key is renamed
    torch.testing.assert_close(target.state_dict(), source.state_dict())

    classifier = build_model({"type": "ImageClassifier", "backbone": {"type": "RepVGG", "arch": TINY_ARCH},
                              "neck": {"type": "GlobalAveragePooling"},
                              "head": {"type": "LinearClsHead", "num_classes": 3, "in_channels": 128}})
    missing, unexpected = load_weights(classifier, {"state_dict": {f"backbone.{k}": v for k, v in mmcls.items()}})
    assert unexpected == [] and all(k.startswith("head.") for k in missing)

    source.switch_to_deploy()
    deploy_mmcls = _to_mmcls(source.state_dict())
    assert "stage_1.0.branch_reparam.weight" in deploy_mmcls
    deployed = repvgg_tiny(deploy=True)
    deployed.load_state_dict(deploy_mmcls)
    torch.testing.assert_close(deployed.state_dict(), source.state_dict())


def test_it_reparameterises_a_checkpoint_from_the_command_line(tmp_path, capsys):
    model_cfg = {"type": "ImageClassifier", "backbone": {"type": "RepVGG", "arch": TINY_ARCH},
                 "neck": {"type": "GlobalAveragePooling"},
                 "head": {"type": "LinearClsHead", "num_classes": 3, "in_channels": 128}}
    spec_path = tmp_path / "repvgg-tiny.py"
    spec_path.write_text(f"model = {model_cfg!r}\n")
    model = build_model(model_cfg)
    _randomise_bn(model)
    save_checkpoint(tmp_path / "train.pth", model, None, {"spec": {"model": model_cfg}, "CLASSES": ["a", "b", "c"]},
                    link_latest=False)

    out = tmp_path / "deploy.pth"
    assert main(["reparam", str(spec_path), str(tmp_path / "train.pth"), str(out)]) == 0
    assert "re-parameterised model saved" in capsys.readouterr().out
    checkpoint = load_checkpoint(out)
    assert checkpoint["meta"]["deploy"] is True
    assert checkpoint["meta"]["spec"]["model"]["backbone"]["deploy"] is True
    assert checkpoint["meta"]["CLASSES"] == ["a", "b", "c"]

    deployed = build_model(checkpoint["meta"]["spec"]["model"])
    deployed.load_state_dict(checkpoint["state_dict"])
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    deployed.eval()
    with torch.no_grad():
        torch.testing.assert_close(deployed.simple_test(x), model.simple_test(x), atol=1e-4, rtol=1e-4)

    # a deploy checkpoint cannot be re-parameterised again
    assert main(["reparam", str(spec_path), str(out), str(tmp_path / "again.pth")]) == 1
    assert "does not fit" in capsys.readouterr().err


def test_it_still_renames_mmcls_keys_after_a_pickle_round_trip():
    import pickle

    source = repvgg_tiny()
    clone = pickle.loads(pickle.dumps(repvgg_tiny()))  # Ray and DDP pickle models
    clone.load_state_dict(_to_mmcls(source.state_dict()))
    torch.testing.assert_close(clone.state_dict(), source.state_dict())
