"""RepMLPNet: outputs, MMCls names, and re-parameterisation (``switch_to_deploy``) keeping the outputs."""

from __future__ import annotations

import pytest
import torch

from workers.models import build_model
from workers.models.backbones.repmlp import RepMLPNet, repmlp_tiny


def _randomise_bn(model: torch.nn.Module) -> None:
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def test_it_returns_the_stages_of_out_indices_and_refuses_other_sizes():
    backbone = repmlp_tiny(out_indices=(0, 1, 2, 3))
    outs = backbone(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 4, 4), (2, 32, 2, 2), (2, 64, 1, 1), (2, 64, 1, 1)]
    with pytest.raises(ValueError, match="dynamic input shape"):
        backbone(torch.randn(1, 3, 64, 64))
    with pytest.raises(KeyError, match="default archs"):
        RepMLPNet("huge")


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(repmlp_tiny().state_dict())
    assert {"patch_embed.projection.weight", "patch_embed.norm.running_var",
            "stages.0.0.repmlp_block.gp.conv1.conv.weight", "stages.0.0.repmlp_block.gp.conv2.conv.bias",
            "stages.0.0.repmlp_block.fc3.weight", "stages.0.0.repmlp_block.fc3_bn.weight",
            "stages.2.1.repmlp_block.repconv3.conv.weight", "stages.2.1.repmlp_block.repconv1.bn.running_mean",
            "stages.1.0.ffn_block.ffn_fc1.conv.weight", "stages.1.0.ffn_block.ffn_fc2.bn.bias",
            "stages.3.0.norm1.weight", "downsample_layers.2.conv.weight", "downsample_layers.0.bn.weight",
            "final_norm.running_var"} <= names
    deploy = set(repmlp_tiny(deploy=True).state_dict())
    assert "stages.0.0.repmlp_block.fc3.bias" in deploy
    assert not [k for k in deploy if "repconv" in k or "fc3_bn" in k]


def test_it_gives_the_same_outputs_after_switch_to_deploy():
    classifier = build_model({
        "type": "ImageClassifier",
        "backbone": {"type": "RepMLPNet", "img_size": 32, "reparam_conv_kernels": (1, 3),
                     "arch": {"channels": [8, 16, 32, 64], "depths": [1, 1, 2, 1], "sharesets_nums": [1, 2, 4, 8]}},
        "neck": {"type": "GlobalAveragePooling"},
        "head": {"type": "LinearClsHead", "num_classes": 5, "in_channels": 64}})
    _randomise_bn(classifier)
    classifier.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = classifier.extract_feat(x, stage="backbone")
        classifier.switch_to_deploy()  # the classifier passes it to the backbone
        after = classifier.extract_feat(x, stage="backbone")
    torch.testing.assert_close(after[0], before[0], atol=1e-4, rtol=1e-4)
    deploy_keys = set(repmlp_tiny(deploy=True).state_dict())
    assert {k.removeprefix("backbone.") for k in classifier.state_dict() if k.startswith("backbone.")} == deploy_keys


def test_it_reparameterises_a_checkpoint_from_the_command_line(tmp_path):
    from workers.cli import main
    from workers.engine.checkpoint import load_checkpoint, save_checkpoint

    model_cfg = {"type": "ImageClassifier",
                 "backbone": {"type": "RepMLPNet", "img_size": 32, "reparam_conv_kernels": (1, 3),
                              "arch": {"channels": [8, 16, 32, 64], "depths": [1, 1, 2, 1],
                                       "sharesets_nums": [1, 2, 4, 8]}},
                 "neck": {"type": "GlobalAveragePooling"},
                 "head": {"type": "LinearClsHead", "num_classes": 5, "in_channels": 64}}
    (tmp_path / "repmlp-tiny.py").write_text(f"model = {model_cfg!r}\n")
    model = build_model(model_cfg)
    _randomise_bn(model)
    save_checkpoint(tmp_path / "train.pth", model, None, {"CLASSES": list("abcde")}, link_latest=False)
    assert main(["reparam", str(tmp_path / "repmlp-tiny.py"), str(tmp_path / "train.pth"),
                 str(tmp_path / "deploy.pth")]) == 0
    checkpoint = load_checkpoint(tmp_path / "deploy.pth")
    deployed = build_model(checkpoint["meta"]["spec"]["model"])  # the spec file's model with deploy=True
    deployed.load_state_dict(checkpoint["state_dict"])
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(deployed.eval().simple_test(x), model.eval().simple_test(x), atol=1e-4, rtol=1e-4)
